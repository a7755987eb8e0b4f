"""The ring ABI: one header, pinned by static assertions, seen identically
by C and by the numpy views the daemon uses."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from aqmllm.bridge import layout
from aqmllm.bridge._aqmcore import ffi, lib

ROOT = Path(__file__).resolve().parents[2]
HEADER = ROOT / "kmod" / "include" / "aqmllm_ring.h"
CC = shutil.which("cc") or shutil.which("gcc")


def _compile(header: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    src = tmp_path / "use.c"
    src.write_text(f'#include "{header}"\nint main(void) {{ return 0; }}\n')
    return subprocess.run(
        [CC, "-std=c11", "-Wall", "-Werror", "-fsyntax-only", str(src)],
        capture_output=True,
        text=True,
    )


def test_sizes_are_cache_line_multiples() -> None:
    assert ffi.sizeof("struct aqmllm_record") == 64
    assert ffi.sizeof("struct aqmllm_verdict") == 32
    assert ffi.sizeof("struct aqmllm_region_hdr") == lib.AQMLLM_HDR_SIZE == 4096


def test_each_index_owns_a_cache_line() -> None:
    lines = {
        name: ffi.offsetof("struct aqmllm_region_hdr", name) // 64
        for name in ("magic", "rec_prod", "rec_cons", "vd_prod", "vd_cons", "heartbeat_ns")
    }
    assert len(set(lines.values())) == len(lines)
    assert all(ffi.offsetof("struct aqmllm_region_hdr", n) % 64 == 0 for n in lines)


@pytest.mark.parametrize(
    ("dtype", "cname"),
    [
        (layout.RECORD_DTYPE, "struct aqmllm_record"),
        (layout.VERDICT_DTYPE, "struct aqmllm_verdict"),
        (layout.HEADER_DTYPE, "struct aqmllm_region_hdr"),
    ],
)
def test_numpy_views_match_the_c_layout(dtype, cname: str) -> None:
    assert dtype.itemsize == ffi.sizeof(cname)
    for name, field in ffi.typeof(cname).fields:
        assert dtype.fields[name][1] == field.offset, name
        assert dtype.fields[name][0].itemsize == ffi.sizeof(field.type), name


@pytest.mark.skipif(CC is None, reason="no C compiler")
def test_static_assertions_hold(tmp_path: Path) -> None:
    res = _compile(HEADER, tmp_path)
    assert res.returncode == 0, res.stderr


@pytest.mark.skipif(CC is None, reason="no C compiler")
def test_static_assertions_catch_a_layout_change(tmp_path: Path) -> None:
    text = HEADER.read_text()
    moved = text.replace(
        "\tuint32_t queue_id;\t/* producer's", "\tuint32_t extra;\n\tuint32_t queue_id;\t/*", 1
    )
    assert moved != text
    bad = tmp_path / "aqmllm_ring.h"
    bad.write_text(moved)
    res = _compile(bad, tmp_path)
    assert res.returncode != 0 and "record" in res.stderr


def test_counter_names_cover_every_slot_used() -> None:
    assert sorted(layout.COUNTER_NAMES.values()) == list(range(lib.AQMLLM_CNT_COUNT))
