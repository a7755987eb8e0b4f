"""cffi build of the simulators' own C, the event-log format and writer
(sim/evlog/), as ``aqmllm.sim._evlog``.  As for the ring ABI, the layout is
never restated in Python: the cdef comes from the header (see mk/cdef.py)."""

from __future__ import annotations

import sys
from pathlib import Path

from cffi import FFI

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "mk"))
import cdef  # noqa: E402

EVLOG = ROOT / "sim" / "evlog"
HEADER = EVLOG / "aqmllm_evlog.h"

evlog_builder = FFI()
evlog_builder.cdef(cdef.cdef([HEADER], [HEADER], [EVLOG]))
evlog_builder.set_source(
    "aqmllm.sim._evlog",
    f'#include "{HEADER.name}"\n',
    sources=["sim/evlog/aqmllm_evlog.c"],
    include_dirs=[str(EVLOG)],
    extra_compile_args=["-O2", "-std=c11", "-Wall", "-Wextra"],
)

if __name__ == "__main__":
    evlog_builder.compile(tmpdir=str(ROOT / "build" / "cffi"), verbose=True)
