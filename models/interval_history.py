"""Per-queue history of interval records: what the daemon's interval loop keeps,
and what training replays to build the same states offline.

For each queue: its last W interval records (a ring buffer, oldest first
when read) and slow context the window cannot hold (PLAN-interval.md):
exponentially weighted means of the busy fraction, each class's mean
sojourn and the dequeue rate at 1 s and 8 s time constants, weighted by
each record's own length (an idle gap moves them by its length), and the
C class's sojourn trough at the same time constants: it falls at once to a
record's mean sojourn below it and rises towards later ones as a mean
does, so it stays near the lowest C delay of the last second or eight --
the standing queue, the part of the delay a lower target could take away
without the queue running dry (issue 16, interval-v3).

Feature code reads it through :meth:`window` and :meth:`slow`, or, cheaper,
registers a per-record feature function with :meth:`track` (see
aqmllm.models.interval_features): its rows are computed once per record on
arrival and :meth:`features` gathers each queue's window of them.  Queue
ids are the ring's (< nqueues), storage grows with the largest one seen.

It lives with the models (numpy only) so that a training pipeline feeding
a queue's records through ``update`` gets exactly the rows and slow context
the daemon's models see.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from aqmllm.bridge import layout

TAUS_S = (1.0, 8.0)
ITEM = layout.INTERVAL_DTYPE.itemsize
RAW = np.dtype((np.void, ITEM))  # records moved as bytes: far cheaper than field by field
# The slow context's columns: each quantity at each time constant.
SLOW_QUANTITIES = ("busy", "delay_c_ns", "delay_l_ns", "rate_bps", "trough_c_ns")
# quantities that fall at once and rise as a mean (troughs), by index
TROUGHS = (SLOW_QUANTITIES.index("trough_c_ns"),)
SLOW_NAMES = tuple(f"{q}_{int(t)}s" for q in SLOW_QUANTITIES for t in TAUS_S)


def _instant(recs: np.ndarray) -> np.ndarray:
    """(n, len(SLOW_QUANTITIES)): each record's own busy fraction, delays, rate."""
    ivl = np.maximum(recs["interval_ns"].astype(np.float64), 1.0)
    cls = recs["cls"]
    dep = cls["dep_bytes"].astype(np.float64).sum(axis=1)
    delay_c = cls["sojourn_mean_ns"][:, layout.CLASS_C].astype(np.float64)
    return np.stack(
        [
            recs["busy_ns"] / ivl,
            delay_c,
            cls["sojourn_mean_ns"][:, layout.CLASS_L].astype(np.float64),
            dep * 8e9 / ivl,
            delay_c,  # the trough's instant value: the same mean, kept by a minimum
        ],
        axis=1,
    )


class IntervalHistory:
    def __init__(self, window: int) -> None:
        if window < 1:
            raise ValueError("the interval history needs a window of at least one record")
        self.window_len = window
        self._recs = np.zeros((0, window), RAW)
        self._pos = np.zeros(0, np.int64)  # next slot per queue
        self._count = np.zeros(0, np.int64)  # records seen per queue
        self._slow = np.zeros((0, len(SLOW_NAMES)), np.float64)
        # name -> (fn, rows (nq, W, F) float32)
        self._tracked: dict[str, tuple[Callable[..., np.ndarray], np.ndarray]] = {}

    @property
    def nqueues(self) -> int:
        return len(self._pos)

    def _grow(self, qmax: int) -> None:
        if qmax < self.nqueues:
            return
        n = max(qmax + 1, 2 * self.nqueues)
        extra = n - self.nqueues
        self._recs = np.concatenate([self._recs, np.zeros((extra, self.window_len), RAW)])
        self._pos = np.concatenate([self._pos, np.zeros(extra, np.int64)])
        self._count = np.concatenate([self._count, np.zeros(extra, np.int64)])
        self._slow = np.concatenate([self._slow, np.zeros((extra, len(SLOW_NAMES)))])
        for name, (fn, rows) in self._tracked.items():
            pad = np.zeros((extra, *rows.shape[1:]), np.float32)
            self._tracked[name] = (fn, np.concatenate([rows, pad]))

    def reset(self) -> None:
        """Forget every record (a new ring); tracked features stay tracked."""
        tracked = {k: (fn, rows.shape[2]) for k, (fn, rows) in self._tracked.items()}
        self.__init__(self.window_len)  # type: ignore[misc]
        for name, (fn, n) in tracked.items():
            self.track(name, fn, n)

    def track(self, name: str, fn: Callable[..., np.ndarray], n_features: int) -> None:
        """Compute fn(records, previous, slow) -> (n, n_features) for every record from now on."""
        if name in self._tracked:
            return
        w = self.window_len
        rows = np.zeros((self.nqueues, w, n_features), np.float32)
        # The records already held get their rows now (their slow context is today's).
        q = np.flatnonzero(self._count)
        prev = np.zeros(len(q), layout.INTERVAL_DTYPE)
        for j in range(w):  # oldest to newest
            slot = (self._pos[q] - w + j) % w
            real = self._count[q] >= w - j
            cur = self._recs[q, slot].view(layout.INTERVAL_DTYPE).copy()
            if real.any():
                rows[q[real], slot[real]] = fn(cur[real], prev[real], self._slow[q[real]])
            prev = np.where(real, cur, prev)
        self._tracked[name] = (fn, rows)

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
        raw = np.ascontiguousarray(recs).view(RAW)
        for r in range(int(rank.max()) + 1):
            idx = order[rank == r]
            qq = q[idx]
            if self._tracked:
                prev = self._recs[qq, (self._pos[qq] - 1) % self.window_len]
                prev = prev.view(layout.INTERVAL_DTYPE).copy()
                prev[self._count[qq] == 0] = np.zeros((), layout.INTERVAL_DTYPE)
            self._recs[qq, self._pos[qq]] = raw[idx]
            self._pos[qq] = (self._pos[qq] + 1) % self.window_len
            fresh = self._count[qq] == 0
            self._count[qq] += 1
            for t, tau in enumerate(TAUS_S):
                a = 1.0 - np.exp(-dt[idx] / tau)
                a = np.where(fresh, 1.0, a)[:, None]
                cols = slice(t, len(SLOW_NAMES), len(TAUS_S))
                old = self._slow[qq, cols]
                new = old + a * (inst[idx] - old)
                for k in TROUGHS:
                    new[:, k] = np.minimum(new[:, k], inst[idx, k])
                self._slow[qq, cols] = new
            for fn, rows in self._tracked.values():
                rows[qq, (self._pos[qq] - 1) % self.window_len] = fn(
                    recs[idx], prev, self._slow[qq]
                )

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
        if (n < w).any():  # queues with fewer records than the window: zero rows first
            mask = np.arange(w)[None, :] < (w - n)[:, None]
            rows.view(np.uint8).reshape(len(qk), w, ITEM)[mask] = 0
        if known.all():
            return rows.view(layout.INTERVAL_DTYPE)
        out.view(RAW)[known] = rows
        return out

    def features(self, name: str, queue_ids: np.ndarray, length: int) -> np.ndarray:
        """(Q, length, F) rows of a tracked feature function, oldest first, zero before
        a queue's first record."""
        rows = self._tracked[name][1]
        w = min(length, self.window_len)
        q = np.asarray(queue_ids, np.int64)
        known = q < self.nqueues
        out = np.zeros((len(q), w, rows.shape[2]), np.float32)
        if not known.any():
            return out
        qk = q[known]
        slots = (self._pos[qk][:, None] - w + np.arange(w)[None, :]) % self.window_len
        got = rows[qk[:, None], slots]
        n = np.minimum(self._count[qk], w)
        if (n < w).any():
            got[np.arange(w)[None, :] < (w - n)[:, None]] = 0.0
        if known.all():
            return got
        out[known] = got
        return out

    def slow(self, queue_ids: np.ndarray) -> np.ndarray:
        """(Q, len(SLOW_NAMES)) slow context; zeros for a queue never seen."""
        q = np.asarray(queue_ids, np.int64)
        out = np.zeros((len(q), len(SLOW_NAMES)))
        known = q < self.nqueues
        out[known] = self._slow[q[known]]
        return out
