"""Reading the project's C headers into a cffi cdef, for the build specs
of the C extensions (bridge/ffi_build.py, models/ffi_build.py).

Nothing is restated in Python: the headers are run through the C
preprocessor with AQMLLM_CDEF defined (which hides what cffi cannot parse)
and the result is the cdef.  Integer constants are taken from the
headers' object-like #defines and resolved by the C compiler, so the
values, too, come from the one header.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORE = ROOT / "kmod" / "core"
INCLUDE = ROOT / "kmod" / "include"
LINUX = ROOT / "kmod" / "linux"
INCLUDE_DIRS = [CORE, INCLUDE, LINUX]
DEFINE_RE = re.compile(r"^#define\s+(AQ(?:M|S_)[A-Z0-9_]*)\s+(\S.*?)\s*(?:/\*.*)?$")


def compiler() -> str:
    for cc in (os.environ.get("CC", ""), "cc", "gcc", "clang"):
        if cc and shutil.which(cc.split()[0]):
            return cc
    raise RuntimeError("no C compiler found (set CC): the C extensions need one")


def declarations(headers: list[Path], include_dirs: list[Path]) -> str:
    """The headers' declarations, preprocessed for cffi."""
    source = "".join(f'#include "{h}"\n' for h in headers)
    cmd = [*compiler().split(), "-E", "-P", "-DAQMLLM_CDEF", "-x", "c", "-"]
    cmd += [f"-I{d}" for d in include_dirs]
    return subprocess.run(cmd, input=source, check=True, capture_output=True, text=True).stdout


def integer_constants(headers: list[Path]) -> str:
    """`#define NAME ...` for every object-like integer macro of the headers."""
    names: list[str] = []
    for header in headers:
        for line in header.read_text().splitlines():
            m = DEFINE_RE.match(line)
            if m and "(" not in m.group(1) and not m.group(1).endswith("_H"):
                if m.group(2).startswith(("{", '"', "_IO")):
                    continue
                names.append(m.group(1))
    return "\n".join(f"#define {n} ..." for n in dict.fromkeys(names))


def cdef(headers: list[Path], constants_from: list[Path], include_dirs: list[Path]) -> str:
    return declarations(headers, include_dirs) + "\n" + integer_constants(constants_from)
