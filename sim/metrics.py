"""Metrics of one run, per class (L, C) and overall, from per-packet events.

Input: the queue disc's event log (dequeue with sojourn, drop, mark; the
class from the packet's ECN field), bytes received per flow, and the
scenario (capacity over time).  Independent of ns-3: the emulator feeds
the same function.
"""

from __future__ import annotations

import numpy as np
from aqmllm.sim.scenario import Scenario

# Mirrors struct LlmLogRow in sim/ns3/aqmllm_ns3.h (written with fwrite).
LOG_DTYPE = np.dtype(
    [
        ("t", "<f8"),
        ("sojourn", "<f8"),
        ("bytes", "<u4"),
        ("cls", "u1"),
        ("event", "u1"),
        ("pad", "<u2"),
    ]
)
EV_DEQUEUE, EV_DROP, EV_MARK, EV_DROP_DEQ = 0, 1, 2, 3
# A packet dropped after dequeue also has a dequeue row (ns-3 logs the
# dequeue from the internal queue first); served = dequeued - dropped there.
WARMUP_FRACTION = 0.2  # the first fifth of a run is start-up, not steady state


def capacity_bits(sc: Scenario, t0: float, t1: float) -> float:
    """Bits the bottleneck could carry between t0 and t1, rate changes included."""
    edges = [(0.0, sc.rate_mbps)] + [(c.at_s, c.rate_mbps) for c in sc.rate_changes]
    total = 0.0
    for i, (start, rate) in enumerate(edges):
        end = edges[i + 1][0] if i + 1 < len(edges) else float("inf")
        lo, hi = max(start, t0), min(end, t1)
        if hi > lo:
            total += (hi - lo) * rate * 1e6
    return total


def jain(values: list[float]) -> float:
    v = np.asarray(values, dtype=np.float64)
    if len(v) == 0 or not v.any():
        return 0.0
    return float(v.sum() ** 2 / (len(v) * (v**2).sum()))


def _class_metrics(ev: np.ndarray) -> dict:
    deq = ev[ev["event"] == EV_DEQUEUE]
    drops = int((ev["event"] == EV_DROP).sum())
    marks = int((ev["event"] == EV_MARK).sum())
    out = {
        "packets": len(deq),
        "drops": drops,
        "marks": marks,
        "loss": drops / max(len(deq) + drops, 1),
        "mark_rate": marks / max(len(deq), 1),
    }
    if len(deq):
        p50, p99, p999 = np.percentile(deq["sojourn"] * 1000, [50, 99, 99.9])
        out.update(
            {
                "delay_p50_ms": float(p50),
                "delay_p99_ms": float(p99),
                "delay_p999_ms": float(p999),
                "delay_mean_ms": float(deq["sojourn"].mean() * 1000),
            }
        )
    return out


def compute_metrics(
    sc: Scenario,
    events: np.ndarray,
    rx_bytes: list[int],
    kinds: list[str],
    by_src: dict[str, int] | None = None,
) -> dict:
    t0 = sc.duration_s * WARMUP_FRACTION
    steady = events[events["t"] >= t0]
    deq = steady[steady["event"] == EV_DEQUEUE]
    cap = capacity_bits(sc, t0, sc.duration_s)
    tcp_goodputs = [
        b * 8 / sc.duration_s / 1e6 for b, k in zip(rx_bytes, kinds, strict=True) if k != "udp"
    ]
    m = {
        "overall": _class_metrics(steady),
        "L": _class_metrics(steady[steady["cls"] == 1]),
        "C": _class_metrics(steady[steady["cls"] == 0]),
        "utilisation": float(
            (deq["bytes"].sum() - steady["bytes"][steady["event"] == EV_DROP_DEQ].sum()) * 8 / cap
        )
        if cap
        else 0.0,
        "goodput_mbps": float(sum(rx_bytes) * 8 / sc.duration_s / 1e6),
        "flow_goodput_mbps": [round(b * 8 / sc.duration_s / 1e6, 3) for b in rx_bytes],
        "jain_fairness": jain(tcp_goodputs),
        "warmup_s": t0,
    }
    if by_src is not None:
        total = max(sum(v for k, v in by_src.items() if k != "none"), 1)
        m["decision_sources"] = {k: v / total for k, v in by_src.items() if k != "none"}
    return m
