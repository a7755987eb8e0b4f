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


def test_map_request_is_read_only_out_with_the_struct_size() -> None:
    assert freebsd_dev.IOC_MAP == freebsd_dev._ior("L", 5, 16) == 0x40104C05


def _anon(size: int) -> int:
    import ctypes
    import mmap

    libc = ctypes.CDLL(None, use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int]
    libc.mmap.argtypes += [ctypes.c_int, ctypes.c_long]
    addr = libc.mmap(None, size, mmap.PROT_READ | mmap.PROT_WRITE, 0x22, -1, 0)
    assert addr not in (None, ctypes.c_void_p(-1).value)
    return addr


def _fake_map(monkeypatch: pytest.MonkeyPatch, addr: int, size: int, err: int = 0) -> list:
    import errno as errno_mod

    unmapped: list = []
    real = freebsd_dev._munmap

    def ioctl(fd, req, buf, mutate):
        assert req == freebsd_dev.IOC_MAP and mutate
        if err:
            raise OSError(err, errno_mod.errorcode[err])
        m = ffi.from_buffer("struct aqmllm_map *", buf)
        m.addr, m.size = addr, size

    def munmap(a: int, n: int) -> None:
        unmapped.append((a, n))
        real(a, n)

    monkeypatch.setattr(freebsd_dev.fcntl, "ioctl", ioctl)
    monkeypatch.setattr(freebsd_dev, "_munmap", munmap)
    return unmapped


def test_the_kernel_mapping_lives_as_long_as_its_last_view(monkeypatch: pytest.MonkeyPatch) -> None:
    import gc

    import numpy as np

    size = 8192
    addr = _anon(size)
    unmapped = _fake_map(monkeypatch, addr, size)
    buf = freebsd_dev.map_region(3, size)
    view = np.ndarray((size,), dtype=np.uint8, buffer=buf)
    view[:4] = (1, 2, 3, 4)
    del buf
    gc.collect()
    assert unmapped == [] and bytes(view[:4]) == b"\x01\x02\x03\x04"
    del view
    gc.collect()
    assert unmapped == [(addr, size)]


def test_map_errors_are_one_sentence(monkeypatch: pytest.MonkeyPatch) -> None:
    import errno as errno_mod

    _fake_map(monkeypatch, 0, 0, errno_mod.ENOTTY)
    with pytest.raises(freebsd_dev.DeviceError, match="load the matching module"):
        freebsd_dev.map_region(3, 4096)
    _fake_map(monkeypatch, 0, 0, errno_mod.EPERM)
    with pytest.raises(freebsd_dev.DeviceError, match="mapping the ring failed"):
        freebsd_dev.map_region(3, 4096)
    addr = _anon(4096)
    unmapped = _fake_map(monkeypatch, addr, 4096)
    with pytest.raises(freebsd_dev.DeviceError, match="mapped 4096 bytes of a 8192-byte ring"):
        freebsd_dev.map_region(3, 8192)
    assert unmapped == [(addr, 4096)]
