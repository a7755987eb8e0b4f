"""aqmllmd on bad input: one sentence, exit status 2, no traceback, the ring left alone."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest
from aqmllm.sim.emu.daemon_ctl import read_header
from shm_producer import ShmProducer


def _run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "aqmllm.daemon.main", *args],
        capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def _fails(p: subprocess.CompletedProcess[str], why: str) -> None:
    assert p.returncode == 2, p.stderr
    assert "Traceback" not in p.stderr, p.stderr
    lines = [ln for ln in p.stderr.splitlines() if ln.startswith("aqmllmd: ")]
    assert len(lines) == 1 and why in lines[0], p.stderr


QUIET = ("--set", "telemetry.zmq_pub=", "--set", "telemetry.prometheus_port=0")


def test_a_directory_or_a_foreign_device_as_the_ring(tmp_path: Path) -> None:
    _fails(_run("--set", f"ring.path={tmp_path}", *QUIET), "is a directory")
    _fails(_run("--set", "ring.path=/dev/null", *QUIET), "a character device")


def test_a_pidfile_that_cannot_be_written_leaves_the_ring_unclaimed(
    producer: ShmProducer, tmp_path: Path
) -> None:
    ring = tmp_path / "ring"
    p = _run("--set", f"ring.path={ring}", "--set", "daemon.pidfile=/nonexistent/a.pid", *QUIET)
    _fails(p, "daemon.pidfile /nonexistent/a.pid: directory /nonexistent does not exist")
    h = read_header(str(ring))
    assert h["daemon_pid"] == 0 and h["daemon_state"] == 0


@pytest.mark.parametrize("what", ["zmq", "http"])
def test_telemetry_that_cannot_listen(producer: ShmProducer, tmp_path: Path, what: str) -> None:
    ring = tmp_path / "ring"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        if what == "zmq":
            args = ("--set", "telemetry.zmq_pub=garbage", "--set", "telemetry.prometheus_port=0")
            why = "telemetry.zmq_pub 'garbage': cannot bind"
        else:
            args = ("--set", "telemetry.zmq_pub=", "--set", f"telemetry.prometheus_port={port}")
            why = f"cannot serve Prometheus metrics on 127.0.0.1:{port}"
        _fails(_run("--set", f"ring.path={ring}", *args), why)
    h = read_header(str(ring))
    assert h["daemon_state"] == 0  # never attached


def test_bad_overrides_and_options() -> None:
    _fails(_run("--set", "inference.batch_size=lots"), "inference.batch_size: expected int")
    _fails(_run("--set", "nosuchkey"), "expected section.key=value")
    _fails(_run("--serve", "--set", "server.bind=garbage", *QUIET), "server.bind 'garbage'")
    p = _run("--frobnicate")
    assert p.returncode == 2 and "unrecognized arguments: --frobnicate" in p.stderr
    assert "Traceback" not in p.stderr


def test_version() -> None:
    p = _run("--version")
    assert p.returncode == 0 and p.stdout.startswith("aqmllmd 0.1.0 (ring ABI ")
