"""cffi build of the ring ABI and the portable C core.

The layout is never restated in Python: the C headers are run through the
C preprocessor with AQMLLM_CDEF defined (which hides what cffi cannot
parse) and the result is handed to cffi as its cdef.  Integer constants
are taken from the headers' object-like #defines and resolved by the C
compiler, so the values, too, come from the one header.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from cffi import FFI

ROOT = Path(__file__).resolve().parent.parent
CORE = ROOT / "kmod" / "core"
INCLUDE = ROOT / "kmod" / "include"
LINUX = ROOT / "kmod" / "linux"
STUDENT = ROOT / "models" / "csrc"
DEV_HEADER = INCLUDE / "aqmllm_dev.h"
HEADERS = [
    INCLUDE / "aqmllm_ring.h",
    CORE / "aqm_fixed.h",
    CORE / "aqm_algo.h",
    CORE / "aqm_core.h",
    LINUX / "aqm_shm.h",
]
DEFINE_RE = re.compile(r"^#define\s+(AQ(?:M|S_)[A-Z0-9_]*)\s+(\S.*?)\s*(?:/\*.*)?$")


def _compiler() -> str:
    for cc in (os.environ.get("CC", ""), "cc", "gcc", "clang"):
        if cc and shutil.which(cc.split()[0]):
            return cc
    raise RuntimeError("no C compiler found (set CC): the core binding needs one")


def _preprocessed_declarations(header: Path) -> str:
    cmd = [
        *_compiler().split(),
        "-E",
        "-P",
        "-DAQMLLM_CDEF",
        f"-I{CORE}",
        f"-I{INCLUDE}",
        f"-I{LINUX}",
        f"-I{STUDENT}",
        str(header),
    ]
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


def _integer_constants(headers: list[Path]) -> str:
    names: list[str] = []
    for header in headers:
        for line in header.read_text().splitlines():
            m = DEFINE_RE.match(line)
            if m and "(" not in m.group(1) and not m.group(1).endswith("_H"):
                if m.group(2).startswith(("{", '"', "_IO")):
                    continue
                names.append(m.group(1))
    return "\n".join(f"#define {n} ..." for n in dict.fromkeys(names))


def core_sources() -> list[str]:
    found = [*CORE.glob("*.c"), *LINUX.glob("*.c")]
    return sorted(str(p.relative_to(ROOT)) for p in found)


def _builder(
    module: str, header: Path, headers: list[Path], sources: list[str], opt: str = "-O2"
) -> FFI:
    ffi = FFI()
    ffi.cdef(_preprocessed_declarations(header) + "\n" + _integer_constants(headers))
    ffi.set_source(
        module,
        f'#include "{header.name}"\n',
        sources=sources,
        include_dirs=[str(CORE), str(INCLUDE), str(LINUX), str(STUDENT)],
        extra_compile_args=[opt, "-std=c11", "-Wall", "-Wextra"],
        libraries=["m"],
    )
    return ffi


# The layout alone: what the daemon needs on FreeBSD, where the core runs in the kernel.
layout_builder = _builder("aqmllm.bridge._layout", DEV_HEADER, [HEADERS[0], DEV_HEADER], [])
# The layout plus the portable core, for simulators, the emulator and tests on Linux.
core_builder = _builder("aqmllm.bridge._aqmcore", HEADERS[-1], HEADERS, core_sources())
# The student's features, history and MLP (the daemon's hot path; -O3 vectorises the layers).
student_builder = _builder(
    "aqmllm.models._studentc",
    STUDENT / "student_fast.h",
    [HEADERS[0], STUDENT / "student_fast.h"],
    ["models/csrc/student_fast.c"],
    opt="-O3",
)

if __name__ == "__main__":
    for builder in (layout_builder, core_builder, student_builder):
        builder.compile(tmpdir=str(ROOT / "build" / "cffi"), verbose=True)
