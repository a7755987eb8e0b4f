"""Compile-check the FreeBSD kernel module on Linux.

Every kernel source is compiled for x86_64-unknown-freebsd14 with
-D_KERNEL -DKLD_MODULE, the kernel's code-generation and warning flags and
-Werror.  Headers: FreeBSD's installed headers as shipped by the PyPI
`ziglang` package (its cross clang compiles too), or a FreeBSD source tree
given as FREEBSD_SYSDIR=/usr/src/sys.  Files that need dummynet's private
headers (netpfil/ipfw/*.h, not installed) are compiled only with a source
tree, or with FREEBSD_DN_HEADERS=DIR naming a copy of just those headers
(DIR/netpfil/ipfw/*.h from a FreeBSD 14 tree) beside the installed ones;
otherwise they are listed as skipped.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "build" / "kmod-check"
PRIVATE = ("dn_llm_sched.c", "dn_llm_aqm.c")  # need ip_dn_private.h, dn_aqm.h, dn_sched.h

CODEGEN = [
    "-target",
    "x86_64-freebsd.14.0",
    "-O2",  # as the kernel is built; zig cc would otherwise add UBSan calls
    "-fno-strict-aliasing",
    "-ffreestanding",
    "-nostdinc",
    "-fno-builtin",
    "-mcmodel=kernel",
    "-mno-red-zone",
    "-mno-mmx",
    "-mno-sse",
    "-msoft-float",
    "-fno-asynchronous-unwind-tables",
    "-fno-common",
    "-fno-omit-frame-pointer",
    "-std=gnu99",
    "-D_KERNEL",
    "-DKLD_MODULE",
    "-DHAVE_KERNEL_OPTION_HEADERS",
]
WARNINGS = [
    "-Werror",
    "-Wall",
    "-Wredundant-decls",
    "-Wnested-externs",
    "-Wstrict-prototypes",
    "-Wmissing-prototypes",
    "-Wpointer-arith",
    "-Wcast-qual",
    "-Wundef",
    "-Wno-pointer-sign",
    "-Wmissing-include-dirs",
    "-Wno-unknown-pragmas",
    "-Wno-error=unused-function",
]
OPT_GLOBAL = "#define SMP 1\n#define VIMAGE 1\n#define MAC 1\n"
OPT_INET = "#define INET 1\n#define TCP_OFFLOAD 1\n"
OPT_INET6 = "#define INET6 1\n"


def ziglang_includes() -> tuple[list[str], str]:
    import ziglang

    base = Path(ziglang.__file__).parent / "lib" / "libc" / "include"
    arch, generic = base / "x86_64-freebsd-none", base / "generic-freebsd"
    if not (arch.is_dir() and generic.is_dir()):
        raise SystemExit(f"kmod-check: ziglang at {base} ships no FreeBSD headers")
    return [f"-I{arch}", f"-I{generic}"], f"FreeBSD installed headers from ziglang ({generic})"


def sysdir_includes(sysdir: Path) -> tuple[list[str], str]:
    for sub in ("sys/param.h", "netpfil/ipfw/ip_dn_private.h"):
        if not (sysdir / sub).exists():
            raise SystemExit(f"kmod-check: FREEBSD_SYSDIR={sysdir} has no {sub}")
    links = OUT / "machine-links"
    links.mkdir(parents=True, exist_ok=True)
    for name, target in (
        ("machine", "amd64/include"),
        ("x86", "x86/include"),
        ("i386", "i386/include"),
    ):
        link = links / name
        if not link.exists():
            link.symlink_to(sysdir / target)
    return (
        [f"-I{links}", f"-I{sysdir}", f"-I{sysdir / 'contrib/ck/include'}"],
        f"FreeBSD source tree {sysdir}",
    )


def dn_header_includes(dn: Path) -> list[str]:
    """Dummynet's private headers on their own, over the installed headers."""
    need = ("ip_fw_private.h", "dn_heap.h", "ip_dn_private.h", "dn_aqm.h", "dn_sched.h")
    missing = [h for h in need if not (dn / "netpfil/ipfw" / h).exists()]
    if missing:
        raise SystemExit(f"kmod-check: FREEBSD_DN_HEADERS={dn} has no netpfil/ipfw/{missing[0]}")
    # The installed sys/ck.h wants ConcurrencyKit under _KERNEL, which is not
    # installed: kmod/check/ck_shim stands in.  ip_fw_private.h names struct
    # ip_fw in prototypes before declaring it; that is FreeBSD's, not ours.
    return [f"-I{dn}", f"-I{ROOT / 'kmod/check/ck_shim'}", "-Wno-error=visibility"]


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    for name, text in (
        ("opt_global.h", OPT_GLOBAL),
        ("opt_inet.h", OPT_INET),
        ("opt_inet6.h", OPT_INET6),
    ):
        (OUT / name).write_text(text)
    sysdir = os.environ.get("FREEBSD_SYSDIR")
    dn = os.environ.get("FREEBSD_DN_HEADERS") if not sysdir else None
    incs, which = sysdir_includes(Path(sysdir)) if sysdir else ziglang_includes()
    if dn:
        incs += dn_header_includes(Path(dn))
        which += f" + dummynet's private headers from {dn}"
    sources = sorted((ROOT / "kmod" / "core").glob("*.c")) + sorted(
        (ROOT / "kmod" / "freebsd").glob("*.c")
    )
    cc = [sys.executable, "-m", "ziglang", "cc"]
    common = [
        *CODEGEN,
        *WARNINGS,
        "-include",
        str(OUT / "opt_global.h"),
        f"-I{OUT}",
        f"-I{ROOT / 'kmod/include'}",
        f"-I{ROOT / 'kmod/core'}",
        f"-I{ROOT / 'kmod/freebsd'}",
        *incs,
    ]
    failed, skipped = [], []
    print(f"kmod-check: headers: {which}")
    for src in sources:
        rel = src.relative_to(ROOT)
        if src.name in PRIVATE and not (sysdir or dn):
            skipped.append(str(rel))
            continue
        res = subprocess.run(
            [*cc, *common, "-c", str(src), "-o", str(OUT / f"{src.stem}.o")],
            capture_output=True,
            text=True,
        )
        print(f"kmod-check: {'ok  ' if res.returncode == 0 else 'FAIL'} {rel}")
        if res.returncode != 0:
            failed.append(str(rel))
            sys.stderr.write(res.stderr)
    if skipped:
        print(
            "kmod-check: skipped (need dummynet's private headers; set"
            " FREEBSD_SYSDIR=/usr/src/sys or FREEBSD_DN_HEADERS=DIR):"
            f" {' '.join(skipped)}"
        )
    if failed:
        print(f"kmod-check: {len(failed)} file(s) failed: {' '.join(failed)}")
        return 1
    print(f"kmod-check: {len(sources) - len(skipped)} file(s) compiled for the FreeBSD kernel")
    return 0


if __name__ == "__main__":
    sys.exit(main())
