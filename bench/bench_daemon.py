"""End-to-end daemon benchmark: C producer -> ring -> aqmllmd -> ring.

For each offered rate (10k, 100k, 1M records/s) the C producer (the kernel
side: the portable core on a shm ring, packets held --hold-us before
dequeue) runs against a real ``aqmllmd`` process and reports what the
packet path saw: verdict latency (record published -> verdict visible in
the ring), coverage (share of packets decided by the daemon rather than
the fallback), overflows and late verdicts.  A last run offers 4M
records/s, more than one daemon takes, with packets queued 10 ms, and
counts the verdicts the producer accepted per second: the sustained
decision rate.

The daemon runs a student-sized model through the models runtime: the
shipped student if there is one, else an untrained student of the same
architecture (27 -> 64 -> 64 -> 3, about 6k parameters; what it decides
does not change its cost).

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

import aqmllm.daemon  # noqa: F401  (one BLAS thread, as in aqmllmd)

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "models" / "shipped" / "student"


def student(tmp: Path) -> tuple[Path, str, int]:
    from aqmllm.models.checkpoint import save_checkpoint
    from aqmllm.models.runtime import load_policy
    from aqmllm.models.student import INPUT_DIM, StudentWeights

    if (SHIPPED / "manifest.json").exists():
        return SHIPPED, "shipped", load_policy(SHIPPED).weights.n_params()
    w = StudentWeights.random((64, 64), seed=1)
    save_checkpoint(
        tmp / "student",
        "student",
        w.tensors(),
        {"student": {"hidden": [64, 64], "input_dim": INPUT_DIM}},
        training={"name": "untrained-bench-student"},
    )
    return tmp / "student", "untrained", w.n_params()


def model_cost(model: Path) -> dict[str, float]:
    """The student's own time per call, in this process, to explain the latency."""
    import numpy as np
    from aqmllm.bridge.layout import RECORD_DTYPE
    from aqmllm.daemon.policies import make_policy

    policy = make_policy("model", str(model))
    out = {}
    for n in (8, 4096):
        recs = np.zeros(n, dtype=RECORD_DTYPE)
        recs["seq"] = np.arange(1, n + 1)
        recs["t_ns"] = 10**9 + np.arange(n) * 1000
        recs["ecn"] = 1
        recs["pkt_len"] = 1500
        recs["rate_kbps"] = 10**6
        policy.decide(recs)
        k = 200 if n < 100 else 20
        t0 = time.perf_counter()
        for _ in range(k):
            policy.decide(recs)
        out[f"student_us_per_call_{n}"] = (time.perf_counter() - t0) / k * 1e6
    return out


def run(
    producer: str,
    rate: int,
    seconds: float,
    model: Path,
    daemon_args: list[str],
    tmp: Path,
    hold_us: int = 1000,
) -> dict:
    ring = Path("/dev/shm") / f"aqmllm-bench-{os.getpid()}-{rate}"
    log = tmp / f"daemon-{rate}.log"
    res = producer_with_daemon(
        [producer, "--rate", str(rate), "--entries", "262144", "--hold-us", str(hold_us)],
        ["inference.policy=model", f"inference.model={model}"],
        daemon_args, ring, log, seconds,
    )  # fmt: skip
    res["model_failures"] = log.read_text().count("policy off, the kernel's fallback decides")
    return res


def producer_with_daemon(
    producer_cmd: list[str],
    sets: list[str],
    extra_args: list[str],
    ring: Path,
    log: Path,
    seconds: float,
) -> dict:
    """One aqmllm-producer run on `ring` for `seconds` with aqmllmd attached
    (its `--set` overrides `sets`, then `extra_args`); the producer's JSON."""
    prod = subprocess.Popen(
        [*producer_cmd, "--ring", str(ring), "--duration", str(seconds), "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    end = time.monotonic() + 10
    while not ring.exists() and time.monotonic() < end:
        time.sleep(0.005)
    base = [f"ring.path={ring}", "telemetry.zmq_pub=", "telemetry.prometheus_port=0", *sets]
    with open(log, "w") as err:
        daemon = subprocess.Popen(
            [sys.executable, "-m", "aqmllm.daemon.main",
             *(a for s in base for a in ("--set", s)), *extra_args],
            stdout=subprocess.DEVNULL, stderr=err,
        )  # fmt: skip
        try:
            out, perr = prod.communicate(timeout=seconds + 60)
        finally:
            daemon.terminate()
            daemon.wait(10)
    if prod.returncode != 0 or not out.strip():
        raise SystemExit(f"producer failed: {perr}\ndaemon log:\n{log.read_text()[-2000:]}")
    return json.loads(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--producer", default=str(ROOT / "build" / "aqmllm-producer"))
    ap.add_argument("--seconds", type=float, default=4.0, help="per run")
    ap.add_argument("--batch-size", type=int, default=4096)
    ap.add_argument("--busy-poll-us", type=int, default=0)
    args = ap.parse_args()
    # A daemon descheduled on a shared host is not a failing model: a long
    # model timeout keeps one stall from turning the policy off for seconds.
    daemon_args = [
        "--set", f"inference.batch_size={args.batch_size}",
        "--set", f"inference.busy_poll_us={args.busy_poll_us}",
        "--set", "inference.model_timeout_ms=1000",
    ]  # fmt: skip
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        model, origin, params = student(tmp)
        print(f"host_loadavg_1m_before: {os.getloadavg()[0]:.2f}")
        print(f"model: student ({origin}, {params} parameters)")
        print(f"daemon_batch_size: {args.batch_size}")
        print(f"daemon_busy_poll_us: {args.busy_poll_us}")
        for name, us in model_cost(model).items():
            print(f"{name}: {us:.1f}")
        for rate, label in ((10_000, "10k"), (100_000, "100k"), (1_000_000, "1m")):
            r = run(args.producer, rate, args.seconds, model, daemon_args, tmp)
            print(f"offered_pps_{label}: {r['pps']:.0f}")
            print(f"verdict_latency_p50_us_{label}: {r['verdict_latency_p50_us']:.1f}")
            print(f"verdict_latency_p99_us_{label}: {r['verdict_latency_p99_us']:.1f}")
            print(f"verdict_latency_p999_us_{label}: {r['verdict_latency_p999_us']:.1f}")
            print(f"coverage_{label}: {r['coverage']:.4f}")
            print(f"fallback_stale_daemon_{label}: {r['stale_daemon']}")
            print(f"verdicts_rejected_late_{label}: {r['rejected_late']}")
            print(f"overflows_{label}: {r['overflows']}")
            print(f"model_failures_{label}: {r['model_failures']}")
        # Saturation: more records than one daemon can decide, each packet
        # queued 10 ms (a loaded bottleneck), so what limits the verdicts
        # the producer accepts is the daemon's rate, not the deadline.
        r = run(args.producer, 4_000_000, args.seconds, model, daemon_args, tmp, hold_us=10_000)
        print(f"producer_pps_at_saturation: {r['pps']:.0f}")
        print(f"daemon_decisions_per_s: {r['verdicts_in'] / r['seconds']:.0f}")
        print(f"coverage_at_saturation: {r['coverage']:.4f}")
        print(f"overflows_at_saturation: {r['overflows']}")
        print(f"model_failures_at_saturation: {r['model_failures']}")
        print(f"host_loadavg_1m_after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
