"""aqmllmd --check-config on FreeBSD: /dev/aqmllm must be there, a character device, and
report (AQMLLM_IOC_INFO through a read-only descriptor) this ABI and a usable geometry.

FreeBSD is simulated: the platform test is patched, and the INFO ioctl is answered by a
fake where a real device would be needed (/dev/null stands in for the character device)."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

import pytest
from aqmllm.bridge import freebsd_dev
from aqmllm.bridge._aqmcore import ffi, lib
from aqmllm.daemon import check
from aqmllm.daemon.check import run_check

QUIET = ["telemetry.zmq_pub=", "telemetry.prometheus_port=0"]
GEOM = {"rec_entries": 16384, "vd_entries": 16384, "ivl_entries": 0, "nqueues": 64}


def _check(capsys: pytest.CaptureFixture[str], path: str) -> tuple[int, list[str], list[str]]:
    rc = run_check(None, [f"ring.path={path}", *QUIET])
    err = capsys.readouterr().err.splitlines()
    notes = [ln for ln in err if ": note: " in ln]
    return rc, [ln for ln in err if ": note: " not in ln], notes


def _kernel_info(**over: int):
    """What dn_aqm_llm's INFO reports for its default ring, with fields overridden."""
    geom = ffi.new("struct aqm_geom *", GEOM)
    ring = ffi.new("struct aqm_ring *")
    region = ffi.new("char[]", lib.aqm_region_size(geom))
    priv = ffi.new("char[]", lib.aqm_ring_private_size(geom))
    assert lib.aqm_ring_init(ring, region, len(region), geom, priv, len(priv)) == 0
    info = ffi.new("struct aqmllm_info *")
    info.abi_version = lib.AQMLLM_ABI_VERSION
    info.rec_entries, info.vd_entries = ring.rec_entries, ring.vd_entries
    info.ivl_entries, info.nqueues = ring.ivl_entries, ring.nqueues
    info.region_size = len(region)
    for k, v in over.items():
        setattr(info, k, v)
    return info


@pytest.fixture
def freebsd(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(check, "_is_freebsd", lambda: True)


@pytest.fixture
def kernel(monkeypatch: pytest.MonkeyPatch, freebsd: None):
    """INFO answered as the kernel would; records the access mode of each descriptor asked."""
    state: dict = {"info": _kernel_info(), "modes": []}

    def read_info(fd: int, path: str):
        state["modes"].append(fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE)
        return state["info"]

    monkeypatch.setattr(freebsd_dev, "read_info", read_info)
    return state


def test_a_missing_device_is_a_problem_naming_the_module(capsys, freebsd: None) -> None:
    rc, err, _ = _check(capsys, "/dev/aqmllm-not-loaded")
    assert rc == 2 and len(err) == 2, err
    assert "no such device; the dn_aqm_llm module is not loaded" in err[0]
    assert "kldload dn_aqm_llm" in err[0] and 'dn_aqm_llm_load="YES"' in err[0]


def test_not_a_character_device(capsys, freebsd: None) -> None:
    with open("/dev/shm/aqmllm-check-test", "wb") as f:  # a plain file under /dev
        f.write(b"\0" * 4096)
    try:
        for path in ("/dev/shm", f.name):
            rc, err, _ = _check(capsys, path)
            assert rc == 2 and "not a character device" in err[0], (path, err)
    finally:
        Path(f.name).unlink()


def test_a_character_device_that_is_not_aqmllm(capsys, freebsd: None) -> None:
    rc, err, _ = _check(capsys, "/dev/null")  # the real INFO ioctl: ENOTTY
    assert rc == 2 and "/dev/null: not the aqmllm device" in err[0], err


def test_the_kernels_ring_read_only(capsys, kernel: dict) -> None:
    rc, err, notes = _check(capsys, "/dev/null")
    assert rc == 0 and err == [], err
    assert kernel["modes"] == [os.O_RDONLY]  # never opened for writing: nothing attached
    assert not any("attached" in n for n in notes)
    kernel["info"] = _kernel_info(attached=1)
    rc, err, notes = _check(capsys, "/dev/null")
    assert rc == 0 and any("a daemon is attached" in n for n in notes), notes


@pytest.mark.parametrize(
    "over, problem",
    [
        ({"abi_version": 99}, f"kernel ring ABI 99, this daemon speaks {lib.AQMLLM_ABI_VERSION}"),
        ({"rec_entries": 1000}, "cannot use: rec_entries 1000"),
        ({"ivl_entries": 0}, "cannot use: ivl_entries 0"),
        ({"nqueues": 0}, "cannot use: nqueues 0"),
        ({"vd_entries": 8192}, "its geometry makes"),
        ({"region_size": 4096}, "region_size 4096, its geometry makes"),
    ],
)
def test_abi_and_geometry_are_compared(capsys, kernel: dict, over: dict, problem: str) -> None:
    kernel["info"] = _kernel_info(**over)
    rc, err, _ = _check(capsys, "/dev/null")
    assert rc == 2 and len(err) == 2 and problem in err[0], err
