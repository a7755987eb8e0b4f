"""Metrics of one run, per class (L, C) and overall, from the event log.

Input: the bottleneck's event log (sim/evlog.py: one outcome row per packet,
its arrival class, its sojourn), bytes received per flow, the scenario
(capacity over time) and, for web flows, the transfers' completion times.
Independent of ns-3: the emulator feeds the same functions.

Accounting: every packet that reached the queue is an arrival; loss counts
every drop (tail, AQM at enqueue, AQM at dequeue) over arrivals; queue delay
percentiles are over served packets only; utilisation is bytes served over
link capacity; the mark rate is marked over served.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from aqmllm.bridge import layout
from aqmllm.sim.evlog import (
    EV_DROP_DEQ,
    EV_DROP_ENQ,
    EV_DROP_TAIL,
    EV_MARKED,
    EV_SERVED,
    EventLog,
)
from aqmllm.sim.scenario import Scenario

WARMUP_FRACTION = 0.2  # the first fifth of a run is start-up, not steady state
# RFC 7928 §2.1 asks for flow completion times by flow size; kB = 1000 bytes.
FCT_BUCKETS = (("<=15kB", 15_000), ("<=150kB", 150_000), (">150kB", float("inf")))
CDF_LEVELS = np.concatenate([np.linspace(0.0, 0.99, 100), [0.995, 0.999, 0.9995, 0.9999, 1.0]])


SOURCE_NAMES = layout.SOURCES  # ("none", "verdict", "policy", "fallback", "limit")


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


def _served(rows: np.ndarray) -> np.ndarray:
    return (rows["event"] == EV_SERVED) | (rows["event"] == EV_MARKED)


def class_metrics(rows: np.ndarray) -> dict[str, Any]:
    """Counts, loss, marking and delay of one class's (or all) outcome rows."""
    ev = rows["event"]
    served = rows[_served(rows)]
    tail = int((ev == EV_DROP_TAIL).sum())
    enq = int((ev == EV_DROP_ENQ).sum())
    deq = int((ev == EV_DROP_DEQ).sum())
    drops = tail + enq + deq
    marks = int((ev == EV_MARKED).sum())
    out: dict[str, Any] = {
        "arrivals": len(rows),
        "packets": len(served),
        "drops": drops,
        "drops_tail": tail,
        "drops_enqueue": enq,
        "drops_dequeue": deq,
        "marks": marks,
        "loss": drops / max(len(rows), 1),
        "mark_rate": marks / max(len(served), 1),
    }
    if len(served):
        ms = served["sojourn_ns"] / 1e6
        p50, p99, p999 = np.percentile(ms, [50, 99, 99.9])
        out.update(
            {
                "delay_p50_ms": float(p50),
                "delay_p99_ms": float(p99),
                "delay_p999_ms": float(p999),
                "delay_mean_ms": float(ms.mean()),
            }
        )
    return out


def fct_metrics(transfers: list[dict[str, Any]], t0: float) -> dict[str, Any]:
    """Flow completion times of web transfers begun after t0, per class and size bucket.

    A transfer's FCT runs from its start (the connect) to the arrival of its
    last byte at the receiver; unfinished ones are counted, not timed.
    """
    out: dict[str, Any] = {}
    chosen = [t for t in transfers if t["start_s"] >= t0]
    for cls in ("L", "C", "all"):
        of_cls = [t for t in chosen if cls == "all" or t["cls"] == cls]
        if not of_cls:
            continue
        per: dict[str, Any] = {}
        lo = 0.0
        for name, hi in FCT_BUCKETS:
            inside = [t for t in of_cls if lo < t["bytes"] <= hi]
            lo = hi
            done = np.array([t["fct_s"] for t in inside if t["fct_s"] is not None]) * 1000
            b: dict[str, Any] = {"started": len(inside), "done": int(len(done))}
            if len(done):
                b["p50_ms"] = float(np.percentile(done, 50))
                b["p99_ms"] = float(np.percentile(done, 99))
            per[name] = b
        out[cls] = per
    return out


def compute_metrics(
    sc: Scenario,
    log: EventLog,
    rx_bytes: list[int],
    kinds: list[str],
    by_src: dict[str, int] | None = None,
    transfers: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    t0 = sc.duration_s * WARMUP_FRACTION
    rows = log.rows
    steady = rows[rows["t_ns"] >= int(t0 * 1e9)]
    served = steady[_served(steady)]
    cap = capacity_bits(sc, t0, sc.duration_s)
    tcp_goodputs = [
        b * 8 / sc.duration_s / 1e6
        for b, k in zip(rx_bytes, kinds, strict=True)
        if k not in ("udp", "web")
    ]
    m: dict[str, Any] = {
        "overall": class_metrics(steady),
        "L": class_metrics(steady[steady["cls"] == 1]),
        "C": class_metrics(steady[steady["cls"] == 0]),
        "utilisation": float(served["bytes"].sum(dtype=np.uint64) * 8 / cap) if cap else 0.0,
        "goodput_mbps": float(sum(rx_bytes) * 8 / sc.duration_s / 1e6),
        "flow_goodput_mbps": [round(b * 8 / sc.duration_s / 1e6, 3) for b in rx_bytes],
        "jain_fairness": jain(tcp_goodputs),
        "warmup_s": t0,
    }
    if by_src is not None:
        total = max(sum(v for k, v in by_src.items() if k != "none"), 1)
        m["decision_sources"] = {k: v / total for k, v in by_src.items() if k != "none"}
    if transfers:
        m["fct"] = fct_metrics(transfers, t0)
    return m


def _round(a: np.ndarray) -> list[float | None]:
    return [None if not np.isfinite(v) else float(f"{v:.4g}") for v in np.asarray(a, float)]


def _binned_quantiles(
    bins: np.ndarray, values: np.ndarray, n: int, qs: tuple[float, ...]
) -> list[np.ndarray]:
    """Per-bin quantiles of values (NaN where a bin is empty)."""
    out = [np.full(n, np.nan) for _ in qs]
    if not len(values):
        return out
    order = np.lexsort((values, bins))
    b, v = bins[order], values[order]
    starts = np.searchsorted(b, np.arange(n), "left")
    ends = np.searchsorted(b, np.arange(n), "right")
    for i in np.nonzero(ends > starts)[0]:
        seg = v[starts[i] : ends[i]]
        for j, q in enumerate(qs):
            out[j][i] = seg[min(int(q * len(seg)), len(seg) - 1)]
    return out


def time_series(
    sc: Scenario,
    log: EventLog,
    flow_source: np.ndarray | None = None,
    source_labels: list[str] | None = None,
    window_s: float | None = None,
) -> dict[str, Any]:
    """What the report plots over time, computed where the log is (a run's worker).

    flow_source maps a flow-table index to the scenario source (expanded flow)
    it belongs to, -1 for none; source_labels names the sources.
    """
    w = window_s or max(0.05, sc.duration_s / 200)
    n = int(np.ceil(sc.duration_s / w))
    rows = log.rows
    bins = np.minimum((rows["t_ns"] / 1e9 / w).astype(np.int64), n - 1)
    served = _served(rows)
    out: dict[str, Any] = {"window_s": w, "t_s": _round((np.arange(n) + 0.5) * w)}
    delay, mark_p, drop_p = {}, {}, {}
    for name, cls in (("L", 1), ("C", 0)):
        mine = rows["cls"] == cls
        sel = mine & served
        p50, p99 = _binned_quantiles(bins[sel], rows["sojourn_ns"][sel] / 1e6, n, (0.5, 0.99))
        arrivals = np.bincount(bins[mine], minlength=n)
        nserved = np.bincount(bins[sel], minlength=n)
        drops = np.bincount(bins[mine & ~served], minlength=n)
        marks = np.bincount(bins[mine & (rows["event"] == EV_MARKED)], minlength=n)
        with np.errstate(invalid="ignore", divide="ignore"):
            delay[name] = {"p50_ms": _round(p50), "p99_ms": _round(p99)}
            mark_p[name] = _round(np.where(nserved > 0, marks / nserved, np.nan))
            drop_p[name] = _round(np.where(arrivals > 0, drops / arrivals, np.nan))
    out.update({"delay": delay, "mark_prob": mark_p, "drop_prob": drop_p})
    if flow_source is not None and source_labels and len(log.flows):
        fl = rows["flow"].astype(np.int64)
        ok = served & (fl < len(flow_source))
        src = np.full(len(rows), -1, np.int64)
        src[ok] = flow_source[fl[ok]]
        ok &= src >= 0
        k = len(source_labels)
        tput = np.bincount(
            bins[ok] * k + src[ok], weights=rows["bytes"][ok].astype(float), minlength=n * k
        ).reshape(n, k)
        tput = tput * 8 / w / 1e6
        out["throughput_mbps"] = {lab: _round(tput[:, i]) for i, lab in enumerate(source_labels)}
    decided = (
        (rows["src"] > 0) & (rows["src"] < len(SOURCE_NAMES)) & (rows["event"] != EV_DROP_TAIL)
    )
    if decided.any():
        total = np.bincount(bins[decided], minlength=n)
        shares = {}
        for s in range(1, len(SOURCE_NAMES) - 1):
            cnt = np.bincount(bins[decided & (rows["src"] == s)], minlength=n)
            with np.errstate(invalid="ignore", divide="ignore"):
                shares[SOURCE_NAMES[s]] = _round(np.where(total > 0, cnt / total, np.nan))
        out["decision_share"] = shares
    return out


def delay_cdf(log: EventLog, t0: float) -> dict[str, Any]:
    """Quantiles of served packets' queue delay per class after the warm-up."""
    rows = log.rows
    sel = _served(rows) & (rows["t_ns"] >= int(t0 * 1e9))
    out: dict[str, Any] = {"levels": _round(CDF_LEVELS)}
    for name, cls in (("L", 1), ("C", 0)):
        d = rows["sojourn_ns"][sel & (rows["cls"] == cls)] / 1e6
        if len(d):
            out[name] = _round(np.quantile(d, CDF_LEVELS))
    return out


__all__ = [
    "EV_DROP_DEQ",
    "EV_DROP_ENQ",
    "EV_DROP_TAIL",
    "EV_MARKED",
    "EV_SERVED",
    "FCT_BUCKETS",
    "WARMUP_FRACTION",
    "capacity_bits",
    "class_metrics",
    "compute_metrics",
    "delay_cdf",
    "fct_metrics",
    "jain",
    "time_series",
]
