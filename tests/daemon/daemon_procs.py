"""Helpers for tests that run aqmllmd and the C producer as processes."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from aqmllm.sim.emu.daemon_ctl import read_header

ROOT = Path(__file__).resolve().parents[2]
PRODUCER = ROOT / "build" / "aqmllm-producer"
SHIPPED = ROOT / "models" / "shipped" / "student"


def build_producer() -> None:
    subprocess.run(["make", "-s", "producer"], cwd=ROOT, check=True)


def producer(ring: Path, seconds: float, rate: int = 20000, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(PRODUCER), "--ring", str(ring), "--rate", str(rate), "--duration", str(seconds),
         "--entries", "16384", "--json", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def daemon(
    ring: Path, *extra: str, config: Path | None = None, log: Path | None = None
) -> subprocess.Popen[str]:
    """aqmllmd on ``ring`` (or as ``config`` says); stderr to ``log`` when given."""
    cmd = [sys.executable, "-m", "aqmllm.daemon.main", "--set", f"ring.path={ring}",
           "--set", "telemetry.zmq_pub=", "--set", "telemetry.prometheus_port=0"]  # fmt: skip
    if config is not None:
        cmd = [sys.executable, "-m", "aqmllm.daemon.main", "-c", str(config)]
    err = open(log, "w") if log is not None else subprocess.PIPE  # noqa: SIM115
    return subprocess.Popen([*cmd, *extra], stdout=subprocess.PIPE, stderr=err, text=True)


def wait_for(cond: Callable[[], bool], timeout: float = 20.0, what: str = "") -> None:
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, f"timed out waiting for {what or cond}"
        time.sleep(0.02)


def attached(ring: Path, pid: int) -> bool:
    try:
        h = read_header(str(ring))
    except (OSError, ValueError):
        return False
    return h["daemon_pid"] == pid and h["daemon_state"] != 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scrape(port: int, host: str = "127.0.0.1") -> str | None:
    """The /metrics text, or None when nothing listens."""
    try:
        with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=5) as r:
            return r.read().decode()
    except (urllib.error.URLError, ConnectionError, OSError):
        return None


def metric(text: str, line_start: str) -> float:
    for line in text.splitlines():
        if line.startswith(line_start):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no {line_start!r} in the metrics")


def stop(proc: subprocess.Popen[str], timeout: float = 15.0) -> tuple[int, str]:
    """SIGTERM, then the exit status and stderr."""
    if proc.poll() is None:
        proc.terminate()
    _, err = proc.communicate(timeout=timeout)
    return proc.returncode, err


def finish(proc: subprocess.Popen[str], timeout: float = 60.0) -> tuple[int, str]:
    """Wait for the process to exit on its own; its exit status and stderr."""
    _, err = proc.communicate(timeout=timeout)
    return proc.returncode, err
