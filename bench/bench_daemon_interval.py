"""Interval-tier daemon benchmark: decisions per second, and how many queues
get every residual within its interval at Tupdate 16 ms.

1. In process: the real interval loop (take, history, decide, check, write)
   on a shm ring with Q queues, each round Q fresh interval records written
   into the ring as the producer would; decisions/s = Q / round time.
2. End to end: the C producer (the portable core, Q queues, two packets per
   queue per interval, intervals exported only) against a real aqmllmd in
   ``inference.mode = "interval"``; the producer times each residual to the
   verdict being visible, from the record's publication (the daemon's
   share: read, decide, write) and from the end of the interval it
   describes (which adds the lazy record's wait for the queue's next
   packet: up to 8 ms at two packets per interval), and counts those within
   one interval of each.  The largest Q whose residuals all came within an
   interval of their record's publication is printed, and the largest for
   99.9 % of them (one stall of a shared two-core host spoils "all").

The policy is an interval student of the size issue 16's IntervalStudent
has (hidden 64, 64) over a window of 32 records of the ``issue15-smoke``
features (8 per record): 256 -> 64 -> 64 -> 27 level logits; untrained (what
it decides does not change its cost), issue 16's trained student is not in
this build.  Prints `name: value` lines.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import aqmllm.daemon  # noqa: F401  (one BLAS thread, as in aqmllmd)
import numpy as np
from aqmllm.models.rl.levels import table
from bench_daemon import producer_with_daemon

ROOT = Path(__file__).resolve().parents[1]
WINDOW, FEATURES, HIDDEN = 32, 8, (64, 64)
LEVELS = table()  # the residual levels the interval tier trains over
USABLE = {"dualpi2": list(LEVELS), "pie": ["target", "mult_c", "mult_l"], "codel": ["target"]}


def student(tmp: Path) -> tuple[Path, int]:
    from aqmllm.models.interval_runtime import save_interval_checkpoint

    rng = np.random.default_rng(1)
    dims = [WINDOW * FEATURES, *HIDDEN, sum(len(v["levels"]) for v in LEVELS.values())]
    tensors = {}
    for i, (a, b) in enumerate(zip(dims, dims[1:], strict=False)):
        tensors[f"l{i}.weight"] = rng.normal(0, 1 / np.sqrt(a), (a, b)).astype(np.float32)
        tensors[f"l{i}.bias"] = np.zeros(b, np.float32)
    path = save_interval_checkpoint(
        tmp / "interval-student", "interval-student", tensors, "issue15-smoke",
        (WINDOW, FEATURES), LEVELS, USABLE, {"hidden": list(HIDDEN)},
        {"name": "untrained-bench-interval-student"},
    )  # fmt: skip
    return path, sum(int(t.size) for t in tensors.values())


def pow2(n: int) -> int:
    return 1 << max(6, (n - 1).bit_length())


def in_process(queues: int, model: Path, rounds: int) -> dict[str, float]:
    from aqmllm.bridge import layout
    from aqmllm.bridge._aqmcore import ffi, lib
    from aqmllm.bridge.ring import Ring
    from aqmllm.daemon.interval_loop import IntervalLoop, IntervalSettings
    from aqmllm.daemon.interval_policies import load_model

    path = f"/dev/shm/aqmllm-bench-ivl-{os.getpid()}-{queues}".encode()
    shm = ffi.new("struct aqm_shm *")
    entries = pow2(4 * queues)
    assert lib.aqm_shm_create(shm, path, 64, entries, queues) == 0
    try:
        ring = Ring.open_shm(path.decode())
        hdr = ring.hdr
        ivls = ring.intervals  # the same memory the producer writes
        settings = IntervalSettings(window=WINDOW, owns_state=False, model_timeout_ms=60_000)
        loop = IntervalLoop(ring, lambda: load_model(str(model)), settings)
        recs = np.zeros(queues, layout.INTERVAL_DTYPE)
        recs["queue_id"] = np.arange(queues)
        recs["interval_ns"] = 16_000_000
        recs["rate_kbps"] = 100_000
        recs["target_ns"] = 15_000_000
        recs["busy_ns"] = 12_000_000
        recs["cls"]["dep_bytes"] = 90_000
        recs["cls"]["arr_bytes"] = 95_000
        recs["cls"]["sojourn_mean_ns"] = 5_000_000
        times = []
        for r in range(rounds + 3):
            prod = int(hdr["ivl_prod"])
            recs["seq"] = prod + 1 + np.arange(queues)
            recs["t_ns"] = 10**9 + r * 16_000_000
            slots = (prod + np.arange(queues)) & (ring.geometry.ivl_entries - 1)
            ivls[slots] = recs
            shm.ring.ivl_prod = prod + queues  # the producer's own copy too
            for i in range(queues):  # the seq -> queue table the producer checks
                shm.ring.ivl_queue[(prod + 1 + i) & shm.ring.ivl_mask] = i
            hdr["ivl_prod"] = prod + queues
            t0 = time.perf_counter()
            n = loop.step(now_ns=int(recs["t_ns"][0]) + 1_000_000)
            times.append(time.perf_counter() - t0)
            assert n == queues, (n, queues)
            while shm.ring.vd_cons < int(hdr["vd_prod"]):  # the producer reads them all
                lib.aqm_ring_drain(ffi.addressof(shm.ring), int(recs["t_ns"][0]) + 1_000_000)
        accepted = int(shm.ring.cnt[lib.AQMLLM_CNT_RES_ACCEPTED])
        assert accepted == (rounds + 3) * queues, (accepted, rounds, queues)
        step = float(np.median(times[3:]))
        loop.retire()
        ring.close()
        return {"step_us": step * 1e6, "per_s": queues / step, "accepted": accepted}
    finally:
        lib.aqm_shm_destroy(shm, path, 1)


def end_to_end(producer: str, queues: int, seconds: float, model: Path, tmp: Path) -> dict:
    ring = Path("/dev/shm") / f"aqmllm-bench-ivl-e2e-{os.getpid()}-{queues}"
    return producer_with_daemon(
        [producer, "--rate", str(queues * 125), "--queues", str(queues),
         "--entries", str(pow2(4 * queues)), "--limit", "64", "--export", "intervals"],
        ["inference.mode=interval", "interval.policy=model", f"interval.model={model}",
         f"interval.window={WINDOW}", "interval.model_timeout_ms=1000"],
        [], ring, tmp / f"daemon-{queues}.log", seconds,
    )  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--producer", default=str(ROOT / "build" / "aqmllm-producer"))
    ap.add_argument("--seconds", type=float, default=3.0, help="per end-to-end run")
    ap.add_argument("--rounds", type=int, default=30, help="per in-process size")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        model, params = student(tmp)
        print(f"host_loadavg_1m_before: {os.getloadavg()[0]:.2f}")
        print(f"interval_model: untrained interval student, {params} parameters "
              f"({WINDOW}x{FEATURES} -> {HIDDEN[0]} -> {HIDDEN[1]} -> 27)")  # fmt: skip
        for q in (1, 16, 256, 4096):
            r = in_process(q, model, args.rounds)
            print(f"interval_round_us_q{q}: {r['step_us']:.1f}")
            print(f"interval_decisions_per_s_q{q}: {r['per_s']:.0f}")
        best = best999 = 0
        for q in (16, 64, 256, 1024, 4096):
            r = end_to_end(args.producer, q, args.seconds, model, tmp)
            seen = max(1, r["residuals_seen"])
            pub = r["residuals_within_interval_of_publication"]
            answered = r["residuals_seen"] / max(1, r["interval_records"])
            print(f"interval_records_q{q}: {r['interval_records']}")
            print(f"residuals_answered_share_q{q}: {answered:.4f}")
            print(f"residuals_within_interval_of_publication_share_q{q}: {pub / seen:.4f}")
            print(f"residual_pub_delay_p50_us_q{q}: {r['residual_pub_delay_p50_us']:.0f}")
            print(f"residual_pub_delay_p99_us_q{q}: {r['residual_pub_delay_p99_us']:.0f}")
            print(f"residual_pub_delay_max_us_q{q}: {r['residual_pub_delay_max_us']:.0f}")
            within = r["residuals_within_interval"] / seen
            print(f"residuals_within_interval_of_its_end_share_q{q}: {within:.4f}")
            print(f"residual_delay_from_end_p50_us_q{q}: {r['residual_delay_p50_us']:.0f}")
            print(f"residual_delay_from_end_p99_us_q{q}: {r['residual_delay_p99_us']:.0f}")
            if answered >= 0.99 and pub == r["residuals_seen"]:
                best = q
            if answered >= 0.99 and pub >= 0.999 * seen:
                best999 = q
        print(f"interval_max_queues_all_within_16ms: {best}")
        print(f"interval_max_queues_999_within_16ms: {best999}")
        print(f"host_loadavg_1m_after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
