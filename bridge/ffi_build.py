"""cffi build of the C side for Python: the ring ABI, the device ABI and the
portable core (with the Linux shared-memory ring), as ``aqmllm.bridge._aqmcore``.

The core is not compiled here: the extension links the static library
``build/libaqmcore.a`` that every C program of the project links, built by
the Makefile with the project's one set of compile flags (``make core-lib``
is run here when needed).  The cdef comes from the headers (see mk/cdef.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from cffi import FFI

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "mk"))
import cdef  # noqa: E402

CORE_LIB = Path(os.environ.get("AQMLLM_CORE_LIB", ROOT / "build" / "libaqmcore.a"))
# What the extension declares, top headers first; each includes what it needs.
TOP = [cdef.LINUX / "aqm_shm.h", cdef.INCLUDE / "aqmllm_dev.h"]
# Whose integer #defines Python sees.
CONSTANTS = [
    cdef.INCLUDE / "aqmllm_ring.h",
    cdef.INCLUDE / "aqmllm_dev.h",
    cdef.CORE / "aqm_fixed.h",
    cdef.CORE / "aqm_alg.h",
    cdef.CORE / "aqm_fifo.h",
    cdef.CORE / "aqm_core.h",
    cdef.LINUX / "aqm_shm.h",
]


def _core_library() -> str:
    if "AQMLLM_CORE_LIB" not in os.environ:
        subprocess.run(["make", "-s", "-C", str(ROOT), "core-lib"], check=True)
    if not CORE_LIB.exists():
        raise RuntimeError(f"{CORE_LIB} is missing: run `make core-lib` first")
    return str(CORE_LIB)


core_builder = FFI()
core_builder.cdef(cdef.cdef(TOP, CONSTANTS, cdef.INCLUDE_DIRS))
core_builder.set_source(
    "aqmllm.bridge._aqmcore",
    "".join(f'#include "{h.name}"\n' for h in TOP),
    include_dirs=[str(d) for d in cdef.INCLUDE_DIRS],
    extra_objects=[_core_library()],
    libraries=["rt"] if sys.platform.startswith("linux") else [],
)

if __name__ == "__main__":
    core_builder.compile(tmpdir=str(ROOT / "build" / "cffi"), verbose=True)
