"""Per-queue history of interval records, kept by the interval loop.

For each queue: its last W interval records (a ring buffer, oldest first
when read) and slow context the window cannot hold (PLAN-interval.md):
exponentially weighted means of the busy fraction, each class's mean
sojourn and the dequeue rate at 1 s and 8 s time constants, weighted by
each record's own length (an idle gap moves them by its length).

Feature code reads it through :meth:`window` and :meth:`slow`; queue ids
are the ring's (< nqueues), storage grows with the largest one seen.
"""

from __future__ import annotations

import numpy as np
from aqmllm.bridge import layout

TAUS_S = (1.0, 8.0)
# The slow context's columns: each quantity at each time constant.
SLOW_QUANTITIES = ("busy", "delay_c_ns", "delay_l_ns", "rate_bps")
SLOW_NAMES = tuple(f"{q}_{int(t)}s" for q in SLOW_QUANTITIES for t in TAUS_S)


def _instant(recs: np.ndarray) -> np.ndarray:
    """(n, len(SLOW_QUANTITIES)): each record's own busy fraction, delays, rate."""
    ivl = np.maximum(recs["interval_ns"].astype(np.float64), 1.0)
    cls = recs["cls"]
    dep = cls["dep_bytes"].astype(np.float64).sum(axis=1)
    return np.stack(
        [
            recs["busy_ns"] / ivl,
            cls["sojourn_mean_ns"][:, layout.CLASS_C].astype(np.float64),
            cls["sojourn_mean_ns"][:, layout.CLASS_L].astype(np.float64),
            dep * 8e9 / ivl,
        ],
        axis=1,
    )


class IntervalHistory:
    def __init__(self, window: int) -> None:
        if window < 1:
            raise ValueError("the interval history needs a window of at least one record")
        self.window_len = window
        self._recs = np.zeros((0, window), layout.INTERVAL_DTYPE)
        self._pos = np.zeros(0, np.int64)  # next slot per queue
        self._count = np.zeros(0, np.int64)  # records seen per queue
        self._slow = np.zeros((0, len(SLOW_NAMES)), np.float64)

    @property
    def nqueues(self) -> int:
        return len(self._pos)

    def _grow(self, qmax: int) -> None:
        if qmax < self.nqueues:
            return
        n = max(qmax + 1, 2 * self.nqueues)
        extra = n - self.nqueues
        self._recs = np.concatenate(
            [self._recs, np.zeros((extra, self.window_len), layout.INTERVAL_DTYPE)]
        )
        self._pos = np.concatenate([self._pos, np.zeros(extra, np.int64)])
        self._count = np.concatenate([self._count, np.zeros(extra, np.int64)])
        self._slow = np.concatenate([self._slow, np.zeros((extra, len(SLOW_NAMES)))])

    def reset(self) -> None:
        self.__init__(self.window_len)  # type: ignore[misc]

    def update(self, recs: np.ndarray) -> None:
        """Add a batch of records (any queues, in ring order)."""
        if len(recs) == 0:
            return
        q = recs["queue_id"].astype(np.int64)
        self._grow(int(q.max()))
        # A queue may have several records in one batch: add them rank by rank.
        order = np.argsort(q, kind="stable")
        qs = q[order]
        first = np.r_[0, np.flatnonzero(np.diff(qs)) + 1]
        rank = np.arange(len(qs)) - np.repeat(first, np.diff(np.r_[first, len(qs)]))
        inst = _instant(recs)
        dt = recs["interval_ns"].astype(np.float64) / 1e9
        for r in range(int(rank.max()) + 1):
            idx = order[rank == r]
            qq = q[idx]
            self._recs[qq, self._pos[qq]] = recs[idx]
            self._pos[qq] = (self._pos[qq] + 1) % self.window_len
            fresh = self._count[qq] == 0
            self._count[qq] += 1
            for t, tau in enumerate(TAUS_S):
                a = 1.0 - np.exp(-dt[idx] / tau)
                a = np.where(fresh, 1.0, a)[:, None]
                cols = slice(t, len(SLOW_NAMES), len(TAUS_S))
                self._slow[qq, cols] += a * (inst[idx] - self._slow[qq, cols])

    def filled(self, queue_ids: np.ndarray) -> np.ndarray:
        """How many of each queue's window rows are real records (the rest are zero)."""
        q = np.asarray(queue_ids, np.int64)
        out = np.zeros(len(q), np.int64)
        known = q < self.nqueues
        out[known] = np.minimum(self._count[q[known]], self.window_len)
        return out

    def window(self, queue_ids: np.ndarray, length: int | None = None) -> np.ndarray:
        """(Q, length) records per queue, oldest first; rows before its first record zero."""
        w = self.window_len if length is None else min(length, self.window_len)
        q = np.asarray(queue_ids, np.int64)
        out = np.zeros((len(q), w), layout.INTERVAL_DTYPE)
        known = q < self.nqueues
        if not known.any():
            return out
        qk = q[known]
        slots = (self._pos[qk][:, None] - w + np.arange(w)[None, :]) % self.window_len
        rows = self._recs[qk[:, None], slots]
        n = np.minimum(self._count[qk], w)
        rows[np.arange(w)[None, :] < (w - n)[:, None]] = np.zeros((), layout.INTERVAL_DTYPE)
        out[known] = rows
        return out

    def slow(self, queue_ids: np.ndarray) -> np.ndarray:
        """(Q, len(SLOW_NAMES)) slow context; zeros for a queue never seen."""
        q = np.asarray(queue_ids, np.int64)
        out = np.zeros((len(q), len(SLOW_NAMES)))
        known = q < self.nqueues
        out[known] = self._slow[q[known]]
        return out
