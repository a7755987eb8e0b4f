"""cffi build of the student's fast path (models/csrc/student_fast.c) as
``aqmllm.models._studentc``: features, per-queue history and the MLP, the
daemon's hot path (-O3 vectorises the layers).  The cdef comes from the
headers (see mk/cdef.py)."""

from __future__ import annotations

import sys
from pathlib import Path

from cffi import FFI

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "mk"))
import cdef  # noqa: E402

CSRC = ROOT / "models" / "csrc"
HEADER = CSRC / "student_fast.h"
INCLUDE_DIRS = [cdef.INCLUDE, CSRC]

student_builder = FFI()
student_builder.cdef(cdef.cdef([HEADER], [cdef.INCLUDE / "aqmllm_ring.h", HEADER], INCLUDE_DIRS))
student_builder.set_source(
    "aqmllm.models._studentc",
    f'#include "{HEADER.name}"\n',
    sources=["models/csrc/student_fast.c"],
    include_dirs=[str(d) for d in INCLUDE_DIRS],
    extra_compile_args=["-O3", "-std=c11", "-Wall", "-Wextra"],
    libraries=["m"],
)

if __name__ == "__main__":
    student_builder.compile(tmpdir=str(ROOT / "build" / "cffi"), verbose=True)
