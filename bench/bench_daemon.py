"""End-to-end daemon benchmark: C producer -> ring -> aqmllmd -> ring.

For each offered rate the C producer (the kernel side) runs against a real
aqmllmd process and reports what the packet path saw: verdict latency
(record published -> verdict visible) and coverage (share of packets the
daemon decided).  A last run offers records as fast as the core can make
them to measure sustained decisions per second.  The daemon runs the
shipped student when one exists, else the built-in fallback-echo policy
(numpy, vectorised like the student).

Prints one `name: value` line per figure.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "models" / "shipped" / "student"


def run(producer: str, rate: int, seconds: float, policy: list[str], busy_us: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        ring = Path("/dev/shm") / f"aqmllm-bench-{os.getpid()}-{rate}"
        prod = subprocess.Popen(
            [producer, "--ring", str(ring), "--rate", str(rate), "--duration", str(seconds),
             "--entries", "262144", "--hold-us", "1000", "--json"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        end = time.monotonic() + 10
        while not ring.exists() and time.monotonic() < end:
            time.sleep(0.005)
        daemon = subprocess.Popen(
            [sys.executable, "-m", "aqmllm.daemon.main", "--set", f"ring.path={ring}",
             "--set", "telemetry.zmq_pub=", "--set", "telemetry.prometheus_port=0",
             "--set", "inference.batch_size=4096", "--set", "inference.max_wait_us=20",
             "--set", f"inference.busy_poll_us={busy_us}", *policy],
            stdout=subprocess.DEVNULL, stderr=open(Path(tmp) / "daemon.log", "w"),
        )
        try:
            out, err = prod.communicate(timeout=seconds + 60)
        finally:
            daemon.terminate()
            daemon.wait(10)
        if prod.returncode != 0:
            raise SystemExit(f"producer failed: {err}")
        return json.loads(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--producer", default=str(ROOT / "build" / "aqmllm-producer"))
    ap.add_argument("--seconds", type=float, default=4.0)
    args = ap.parse_args()
    policy = (
        ["--set", "inference.policy=model", "--set", f"inference.model={SHIPPED}"]
        if (SHIPPED / "manifest.json").exists()
        else ["--set", "inference.policy=fallback-echo"]
    )
    print(f"policy: {'student' if len(policy) > 2 else 'fallback-echo'}")
    for rate, label in ((10_000, "10k"), (100_000, "100k"), (1_000_000, "1m")):
        r = run(args.producer, rate, args.seconds, policy, busy_us=200)
        print(f"offered_pps_{label}: {r['pps']:.0f}")
        print(f"verdict_latency_p50_us_{label}: {r['verdict_latency_p50_us']:.1f}")
        print(f"verdict_latency_p99_us_{label}: {r['verdict_latency_p99_us']:.1f}")
        print(f"verdict_latency_p999_us_{label}: {r['verdict_latency_p999_us']:.1f}")
        print(f"coverage_{label}: {r['coverage']:.4f}")
        print(f"overflows_{label}: {r['overflows']}")
    r = run(args.producer, 3_000_000, args.seconds, policy, busy_us=200)
    print(f"daemon_decisions_per_s: {r['decided'] / r['seconds']:.0f}")
    print(f"producer_pps_at_saturation: {r['pps']:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
