"""The FreeBSD kernel sources compile for the FreeBSD kernel (-Werror)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(
    importlib.util.find_spec("ziglang") is None,
    reason="the PyPI package ziglang (FreeBSD headers and cross clang) is absent",
)
def test_kernel_sources_compile_against_freebsd_headers() -> None:
    res = subprocess.run(
        [sys.executable, str(ROOT / "kmod/check/kmod_check.py")],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    for f in (
        "kmod/core/aqm_queue.c",
        "kmod/core/aqm_ring.c",
        "kmod/freebsd/llm_dev.c",
        "kmod/freebsd/llm_sysctl.c",
        "kmod/freebsd/llm_module.c",
        "kmod/freebsd/llm_life.c",
        "kmod/freebsd/llm_cfg.c",
        "kmod/freebsd/llm_pktq.c",
        "kmod/freebsd/llm_fifo.c",
        "kmod/freebsd/llm_admit.c",
    ):
        assert f"ok   {f}" in res.stdout
    # without a source tree the dummynet glue is reported, not silently dropped
    assert "skipped (need dummynet's private headers" in res.stdout
    assert "dn_llm_sched.c" in res.stdout and "dn_llm_aqm.c" in res.stdout


@pytest.mark.skipif(importlib.util.find_spec("ziglang") is None, reason="ziglang is absent")
def test_a_dummynet_header_directory_without_the_headers_is_named(tmp_path: Path) -> None:
    (tmp_path / "netpfil/ipfw").mkdir(parents=True)
    (tmp_path / "netpfil/ipfw/ip_fw_private.h").write_text("/* only this one */\n")
    res = subprocess.run(
        [sys.executable, str(ROOT / "kmod/check/kmod_check.py")],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "FREEBSD_DN_HEADERS": str(tmp_path)},
    )
    assert res.returncode != 0
    assert f"FREEBSD_DN_HEADERS={tmp_path} has no netpfil/ipfw/dn_heap.h" in res.stderr


@pytest.mark.skipif(importlib.util.find_spec("ziglang") is None, reason="ziglang is absent")
def test_the_check_fails_on_kernel_errors(tmp_path: Path) -> None:
    """A kernel-only mistake (libc header in the core) must fail the check."""
    import ziglang

    inc = Path(ziglang.__file__).parent / "lib/libc/include"
    bad = tmp_path / "bad.c"
    bad.write_text(
        '#include "aqm_core.h"\nint f(void);\nint f(void) { return NULL == 0; }\n'
        "static int unused_var_warning(void) { int x; return 0; }\n"
    )
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "ziglang",
            "cc",
            "-target",
            "x86_64-freebsd.14.0",
            "-ffreestanding",
            "-nostdinc",
            "-D_KERNEL",
            "-Wall",
            "-Werror",
            f"-I{ROOT / 'kmod/core'}",
            f"-I{ROOT / 'kmod/include'}",
            f"-I{inc / 'x86_64-freebsd-none'}",
            f"-I{inc / 'generic-freebsd'}",
            "-c",
            str(bad),
            "-o",
            str(tmp_path / "bad.o"),
        ],
        capture_output=True,
        text=True,
    )
    assert res.returncode != 0 and "unused" in res.stderr


def test_the_module_makefile_builds_every_kernel_source() -> None:
    """A file the compile check passes but bsd.kmod.mk never links is a module
    that fails to load with an undefined symbol."""
    text = (ROOT / "kmod/Makefile").read_text().replace("\\\n", " ")
    srcs = set(next(line for line in text.splitlines() if line.startswith("SRCS=")).split()[1:])
    wanted = {p.name for d in ("core", "freebsd") for p in (ROOT / "kmod" / d).glob("*.c")}
    assert wanted <= srcs, f"missing from kmod/Makefile SRCS: {sorted(wanted - srcs)}"
