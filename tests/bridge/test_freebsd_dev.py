"""Device ioctls: FreeBSD's encoding, and clear errors off FreeBSD."""

from __future__ import annotations

from pathlib import Path

import pytest
from aqmllm.bridge import freebsd_dev
from aqmllm.bridge._aqmcore import ffi


def test_encoding_matches_freebsd_for_known_ioctls() -> None:
    assert freebsd_dev._ior("f", 127, 4) == 0x4004667F  # FIONREAD
    assert freebsd_dev._iow("f", 126, 4) == 0x8004667E  # FIONBIO
    assert freebsd_dev._io("f", 1) == 0x20006601  # FIOCLEX


def test_aqmllm_requests_carry_struct_sizes() -> None:
    assert (freebsd_dev.IOC_INFO >> 16) & 0x1FFF == ffi.sizeof("struct aqmllm_info")
    assert freebsd_dev.IOC_ATTACH & 0x80000000 and freebsd_dev.IOC_INFO & 0x40000000
    assert freebsd_dev.IOC_STATS & 0xFF == 4 and (freebsd_dev.IOC_STATS >> 8) & 0xFF == ord("L")


def test_missing_device_says_to_load_the_module(tmp_path: Path) -> None:
    with pytest.raises(freebsd_dev.DeviceError, match="kldload dn_aqm_llm"):
        freebsd_dev.open_device(str(tmp_path / "aqmllm"))
