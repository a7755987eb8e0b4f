"""aqmllmd's interval tier as a process against the C producer: residuals
reach the packet path within their interval; packet mode ignores intervals."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRODUCER = ROOT / "build" / "aqmllm-producer"


@pytest.fixture(scope="module", autouse=True)
def built() -> None:
    subprocess.run(["make", "-s", "producer"], cwd=ROOT, check=True)


def _run(tmp_path: Path, export: str, *settings: str, seconds: float = 2.5) -> tuple[dict, str]:
    ring = tmp_path / "ring"
    prod = subprocess.Popen(
        [str(PRODUCER), "--ring", str(ring), "--rate", "8000", "--duration", str(seconds),
         "--queues", "8", "--entries", "4096", "--limit", "1024", "--export", export, "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    end = time.monotonic() + 10
    while not ring.exists() and time.monotonic() < end:
        time.sleep(0.01)
    cmd = [sys.executable, "-m", "aqmllm.daemon.main", "--set", f"ring.path={ring}",
           "--set", "telemetry.zmq_pub=", "--set", "telemetry.prometheus_port=0"]  # fmt: skip
    for s in settings:
        cmd += ["--set", s]
    daemon = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = prod.communicate(timeout=60)
    daemon.send_signal(signal.SIGTERM)
    _, derr = daemon.communicate(timeout=20)
    assert prod.returncode == 0, err
    assert daemon.returncode == 0, derr
    return json.loads(out), derr


def test_interval_mode_writes_residuals_that_arrive_within_their_interval(tmp_path: Path) -> None:
    res, err = _run(
        tmp_path,
        "intervals",
        "inference.mode=interval",
        "interval.policy=constant",
        "interval.mult_c=1",
    )
    assert "interval policy constant(c=+1) ready" in err
    assert res["records"] == 0 and res["interval_records"] > 8 * 60  # 8 queues, ~2.5 s / 16 ms
    assert res["residuals_accepted"] > 0.8 * res["interval_records"]
    assert res["residuals_rejected"] == 0
    # the packet path saw each residual before the interval after its record had ended
    assert res["residuals_within_interval"] >= 0.95 * res["residuals_seen"]
    assert res["residual_delay_p50_us"] < 16_000


def test_packet_mode_hands_interval_records_back_unread(tmp_path: Path) -> None:
    res, _ = _run(tmp_path, "both", "inference.policy=pass", seconds=1.5)
    assert res["records"] > 1000 and res["coverage"] > 0.5
    assert res["interval_records"] > 100 and res["interval_overflows"] == 0
    assert res["residuals_seen"] == 0


def test_interval_mode_hands_per_packet_records_back_unread(tmp_path: Path) -> None:
    """A producer that exports both, a daemon of the interval tier only: the driver hands
    the per-packet records back, so the record ring never fills for nobody."""
    res, err = _run(tmp_path, "both", "inference.mode=interval", seconds=1.5)
    assert "interval policy fallback ready" in err and "mode interval" in err
    assert res["records"] > 1000 and res["overflows"] == 0
    assert res["residuals_accepted"] > 0 and res["coverage"] == 0  # nobody decided per packet
