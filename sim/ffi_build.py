"""cffi build of the simulators' own C: the event-log format and writer.

As for the ring ABI (bridge/ffi_build.py, whose helpers this reuses), the
layout is never restated in Python: sim/evlog/aqmllm_evlog.h is run through
the C preprocessor and handed to cffi, and its #define constants are
resolved by the C compiler.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from cffi import FFI

ROOT = Path(__file__).resolve().parent.parent
EVLOG = ROOT / "sim" / "evlog"
HEADER = EVLOG / "aqmllm_evlog.h"


def _bridge_build():
    spec = importlib.util.spec_from_file_location(
        "_bridge_ffi_build", ROOT / "bridge" / "ffi_build.py"
    )
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _evlog_builder() -> FFI:
    bb = _bridge_build()
    ffi = FFI()
    ffi.cdef(bb._preprocessed_declarations(HEADER) + "\n" + bb._integer_constants([HEADER]))
    ffi.set_source(
        "aqmllm.sim._evlog",
        f'#include "{HEADER.name}"\n',
        sources=[str((EVLOG / "aqmllm_evlog.c").relative_to(ROOT))],
        include_dirs=[str(EVLOG)],
        extra_compile_args=["-O2", "-std=c11", "-Wall", "-Wextra"],
    )
    return ffi


evlog_builder = _evlog_builder()

if __name__ == "__main__":
    evlog_builder.compile(tmpdir=str(ROOT / "build" / "cffi"), verbose=True)
