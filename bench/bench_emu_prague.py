"""Emulator figures for L4S traffic and web transfers: the Prague-like sender through DualPI2.

    python bench/bench_emu_prague.py [--reps 2] [--skip-web | --only-web]

Prints ``name: value`` lines (mean over --reps runs, then min and max):
utilisation, L-queue sojourn p50/p99, CE fraction and alpha of one Prague
flow at 20 and 40 Mbit/s (20 ms RTT); the shares of two Prague flows; the
throughput balance of Prague against Cubic (with ECN) through the
coupling; then one `aqmllm emulate` run with web transfers (Cubic Not-ECT,
Cubic ECT(0), Cubic ECT(1) sources, 4 arrivals/s each, lognormal sizes of
mean 50 kB: ~4.8 Mbit/s of 20) beside a bulk Cubic and a Prague flow:
flow completion time median/p99 per class and size bucket, and the irtt
latency under load of both queues.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from aqmllm.sim.emu.prague_mix import run_mix
from aqmllm.sim.emu.run import emulate
from aqmllm.sim.emu.topology import missing_prerequisites
from aqmllm.sim.metrics import jain
from aqmllm.sim.scenario import parse_scenario


def _print(name: str, values: list[float], fmt: str = ".3f") -> None:
    v = np.asarray(values, dtype=float)
    print(f"{name}: {v.mean():{fmt}} (min {v.min():{fmt}}, max {v.max():{fmt}}, n {len(v)})")


def mixes(reps: int, work: Path) -> None:
    cases: list[tuple[str, float, list[str], float]] = [
        ("prague1_20mbps", 20e6, ["prague"], 10),
        ("prague1_40mbps", 40e6, ["prague"], 10),
        ("prague2_40mbps", 40e6, ["prague", "prague"], 12),
        ("prague_vs_cubic_20mbps", 20e6, ["prague", "cubic"], 15),
        ("prague_vs_cubic_40mbps", 40e6, ["prague", "cubic"], 15),
    ]
    for name, rate, kinds, secs in cases:
        runs = [run_mix(rate, 20, kinds, secs, work) for _ in range(reps)]
        get: dict[str, Callable[[dict[str, Any]], float]] = {
            "util": lambda m: m["util"],
            "l_p50_ms": lambda m: m["L"]["p50_ms"],
            "l_p99_ms": lambda m: m["L"]["p99_ms"],
            "ce_fraction": lambda m: m["flows"][0]["ce_fraction_steady"],
            "alpha_mean": lambda m: m["flows"][0]["alpha_mean"],
        }
        if "cubic" in kinds:
            get["c_p50_ms"] = lambda m: m["C"]["p50_ms"]
            get["c_p99_ms"] = lambda m: m["C"]["p99_ms"]
            get["prague_share"] = lambda m: m["shares"][0]
            get["prague_mbps"] = lambda m: m["flows"][0]["goodput_mbps"]
            get["cubic_mbps"] = lambda m: m["flows"][1]["goodput_mbps"]
        elif len(kinds) == 2:
            get["share_flow0"] = lambda m: m["shares"][0]
            get["jain"] = lambda m: jain([f["goodput_mbps"] for f in m["flows"]])
        for key, f in get.items():
            _print(f"emu_{name}_{key}", [f(m) for m in runs])


def web(work: Path) -> None:
    dur = 20.0
    sc = parse_scenario(
        {
            "name": "bench-web",
            "duration_s": dur,
            "bottleneck": {"rate_mbps": 20, "buffer_pkts": 1000},
            "flows": [
                {"kind": "cubic", "ecn": True, "rtt_ms": 20},
                {"kind": "prague", "rtt_ms": 20},
                *(
                    {"kind": "web", "rtt_ms": 20, "start_s": 1, "arrivals_per_s": 4}
                    | {"mean_kb": 50, "max_kb": 2000, "ecn": ecn}
                    for ecn in ("not-ect", "ect0", "ect1")
                ),
            ],
        },
        "bench-web",
    )
    m = emulate(sc, "dualpi2", work)
    print(f"emu_web_transfers: {m['web_transfers']}")
    print(f"emu_web_failed: {m['web_fct']['all']['all']['failed']}")
    for klass, buckets in m["web_fct"]["by_class"].items():
        for bucket, st in buckets.items():
            tag = f"{klass}_{bucket}".replace("/", "_").replace("<=", "le").replace(">", "gt")
            if "median_ms" in st:
                print(f"emu_web_fct_{tag}_n: {st['n']}")
                print(f"emu_web_fct_{tag}_median_ms: {st['median_ms']:.1f}")
                print(f"emu_web_fct_{tag}_p99_ms: {st['p99_ms']:.1f}")
    lat = m["web_fct"]["start_lateness_ms"]
    print(f"emu_web_start_lateness_max_ms: {lat['max']:.2f}")
    for p in m["latency_under_load"]:
        for k in ("p50_ms", "p99_ms"):
            print(f"emu_latency_{p['tool']}_{p['codepoint']}_{k}: {p.get(k, float('nan')):.2f}")
    print(f"emu_web_run_utilisation: {m['utilisation']:.3f}")
    print(f"emu_web_run_l_p99_ms: {m['L'].get('delay_p99_ms', float('nan')):.2f}")
    print(f"emu_web_run_c_p99_ms: {m['C'].get('delay_p99_ms', float('nan')):.2f}")
    for f in m["flows"]:
        print(f"emu_web_run_{f['kind']}_goodput_mbps: {f['goodput_mbps']:.2f}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--skip-web", action="store_true")
    ap.add_argument("--only-web", action="store_true")
    args = ap.parse_args()
    if args.reps < 1:
        ap.error("--reps must be at least 1")
    why = missing_prerequisites()
    if why:
        print(f"bench_emu_prague: cannot run here: {why}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        if not args.only_web:
            mixes(args.reps, Path(tmp))
        if not args.skip_web:
            web(Path(tmp))
    return 0


if __name__ == "__main__":
    sys.exit(main())
