"""What the loops count: per-loop totals, per-queue counters, and two histograms.

Everything here is updated by the loop thread and read, without locks, by
telemetry threads: single integer stores and whole-array copies, which a
reader may see one batch late but never torn.  The histograms are the
cumulative buckets Prometheus wants (``le`` upper bounds in seconds): model
call latency, one observation per call (a C-level bisect, ~0.2 us), and the
head-of-queue sojourn per traffic class, taken from the sampled records
the per-queue percentiles already keep (up to 64 per batch) and bucketed
every 1024 samples or every second, whichever comes first, not per batch.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from aqmllm.bridge import layout

SAMPLES = 8192  # sojourn samples kept for the per-queue delay percentiles
SAMPLES_PER_BATCH = 64
BUCKET_EVERY = 1024  # sojourn samples between two bucketings
BUCKET_AFTER_S = 1.0  # ... or this long
LATENCY_BOUNDS_S = (
    5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3,
    2.5e-3, 5e-3, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
)  # fmt: skip
SOJOURN_BOUNDS_S = (
    1e-4, 2.5e-4, 5e-4, 1e-3, 2e-3, 5e-3, 0.01, 0.015, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0,
)  # fmt: skip
CLASSES = {layout.CLASS_L: "L", layout.CLASS_C: "C"}


@dataclass
class Histogram:
    """Cumulative-by-export buckets: counts[i] observations <= bounds[i], the last is +Inf."""

    bounds: tuple[float, ...]
    counts: list[int] = field(default_factory=list)
    total: float = 0.0

    def __post_init__(self) -> None:
        self.counts = [0] * (len(self.bounds) + 1)

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.total += value

    def observe_many(self, values: np.ndarray) -> None:
        idx = np.searchsorted(np.asarray(self.bounds), values, side="left")
        for i, n in enumerate(np.bincount(idx, minlength=len(self.counts))):
            self.counts[i] += int(n)
        self.total += float(values.sum())

    def buckets(self) -> list[tuple[str, int]]:
        """[(le, cumulative count)] ending with +Inf, as Prometheus exposes them."""
        out, acc = [], 0
        for bound, n in zip((*self.bounds, float("inf")), self.counts, strict=True):
            acc += n
            out.append(("+Inf" if bound == float("inf") else repr(bound), acc))
        return out


@dataclass
class LoopStats:
    batches: int = 0
    records: int = 0
    verdicts: int = 0
    late_skipped: int = 0
    no_space: int = 0
    by_action: dict[str, int] = field(default_factory=lambda: {"pass": 0, "drop": 0, "mark": 0})
    failures: int = 0
    timeouts: int = 0
    stood_still: int = 0  # slow batches explained by the whole process being stopped
    policy_off_records: int = 0
    policies_written: int = 0
    resyncs: int = 0
    latencies_us: deque[float] = field(default_factory=lambda: deque(maxlen=4096))
    latency: Histogram = field(default_factory=lambda: Histogram(LATENCY_BOUNDS_S))

    def count_actions(self, actions: np.ndarray) -> None:
        counts = np.bincount(actions, minlength=4)
        self.by_action["pass"] += int(counts[layout.ACT_PASS])
        self.by_action["drop"] += int(counts[layout.ACT_DROP])
        self.by_action["mark"] += int(counts[layout.ACT_MARK])

    def latency_percentiles(self) -> dict[str, float]:
        if not self.latencies_us:
            return {}
        arr = np.array(list(self.latencies_us), dtype=np.float64)  # one atomic copy
        p50, p99, p999 = np.percentile(arr, [50, 99, 99.9])
        return {"p50_us": float(p50), "p99_us": float(p99), "p999_us": float(p999)}


class QueueStats:
    """Per-queue counters and recent sojourn samples, updated per batch."""

    def __init__(self, nqueues: int) -> None:
        self.nqueues = nqueues
        self.records = np.zeros(nqueues, dtype=np.int64)
        self.actions = np.zeros((nqueues, 4), dtype=np.int64)  # by action code
        self.late = np.zeros(nqueues, dtype=np.int64)
        self.off = np.zeros(nqueues, dtype=np.int64)
        self._sq = np.zeros(SAMPLES, dtype=np.uint32)
        self._sv = np.zeros(SAMPLES, dtype=np.uint32)
        self._sc = np.zeros(SAMPLES, dtype=np.uint8)
        self._si = 0
        self._sn = 0
        self._bucketed = 0  # samples before this index are in the histograms
        self._bucket_at = 0.0  # bucket what is pending after this time, however little
        self._batches = 0
        self.sojourn = {name: Histogram(SOJOURN_BOUNDS_S) for name in CLASSES.values()}

    def _count(self, q: np.ndarray) -> np.ndarray:
        return np.bincount(q, minlength=self.nqueues)[: self.nqueues]

    def add_records(self, recs: np.ndarray) -> None:
        q = np.minimum(recs["queue_id"], self.nqueues - 1)
        self.records += self._count(q)
        step = max(1, len(recs) // SAMPLES_PER_BATCH)
        take = recs[::step][: SAMPLES - self._si]  # contiguous; wraps next batch
        n = len(take)
        end = self._si + n
        self._sq[self._si : end] = np.minimum(take["queue_id"], self.nqueues - 1)
        self._sv[self._si : end] = take["sojourn_ns"]
        self._sc[self._si : end] = take["cls"]
        self._batches += 1
        if end == SAMPLES or end - self._bucketed >= BUCKET_EVERY:
            self._bucket(end)
        elif (
            self._batches % 16 == 0 and end > self._bucketed and time.monotonic() > self._bucket_at
        ):
            self._bucket(end)  # a quiet ring: samples reach the histogram within a second
        self._si = end % SAMPLES
        self._sn = min(self._sn + n, SAMPLES)

    def _bucket(self, end: int) -> None:
        self._bucket_at = time.monotonic() + BUCKET_AFTER_S
        sv, sc = self._sv[self._bucketed : end], self._sc[self._bucketed : end]
        for code, name in CLASSES.items():
            mine = sv[sc == code]
            if len(mine):
                self.sojourn[name].observe_many(mine.astype(np.float64) / 1e9)
        self._bucketed = end % SAMPLES

    def add_off(self, recs: np.ndarray) -> None:
        self.off += self._count(np.minimum(recs["queue_id"], self.nqueues - 1))

    def add_late(self, q: np.ndarray) -> None:
        self.late += self._count(np.minimum(q, self.nqueues - 1))

    def add_actions(self, q: np.ndarray, acts: np.ndarray) -> None:
        flat = np.minimum(q, self.nqueues - 1).astype(np.int64) * 4 + acts
        self.actions += np.bincount(flat, minlength=4 * self.nqueues)[: 4 * self.nqueues].reshape(
            self.nqueues, 4
        )

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """Queues that saw records: decisions, rates, sojourn percentiles."""
        sq, sv = self._sq[: self._sn], self._sv[: self._sn]
        out: dict[str, dict[str, Any]] = {}
        for q in np.nonzero(self.records)[0]:
            a = self.actions[q]
            decided = int(a[1:].sum())
            entry: dict[str, Any] = {
                "records": int(self.records[q]),
                "pass": int(a[layout.ACT_PASS]),
                "drop": int(a[layout.ACT_DROP]),
                "mark": int(a[layout.ACT_MARK]),
                "late_skipped": int(self.late[q]),
                "policy_off": int(self.off[q]),
                "drop_rate": float(a[layout.ACT_DROP] / decided) if decided else 0.0,
                "mark_rate": float(a[layout.ACT_MARK] / decided) if decided else 0.0,
            }
            mine = sv[sq == q]
            if len(mine):
                p50, p99, p999 = np.percentile(mine, [50, 99, 99.9]) / 1000.0
                entry["sojourn_us"] = {"p50": float(p50), "p99": float(p99), "p999": float(p999)}
            out[str(q)] = entry
        return out
