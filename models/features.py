"""Feature schema: what the models see of a ring record and its queue.

Two kinds of input, both normalised to roughly unit scale:

* scalars, one vector per record, computed from the record alone;
* series, per queue: the last ``SERIES_LEN`` per-batch snapshots of the
  queue's delay, backlog and signal rate, kept by :class:`QueueHistory`
  (the teacher's Conv1d reads them; the student reads their summary).

The schema is versioned and stored with every checkpoint and pool; a model
or pool whose schema differs is refused.  numpy only: the daemon runs the
student without torch.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

import numpy as np
from aqmllm.bridge import layout

SCHEMA_VERSION = 1
SERIES_LEN = 16
TARGET_NS = {layout.CLASS_L: 1_000_000, layout.CLASS_C: 15_000_000}  # per-class delay targets

SCALAR_NAMES = (
    "sojourn_over_target",
    "est_wait_over_target",
    "log_qlen_pkts",
    "log_qlen_bytes",
    "log_other_qlen",
    "fb_prob",
    "is_l4s",
    "ecn_not_ect",
    "ecn_ect1",
    "ecn_ect0",
    "ecn_ce",
    "pkt_len",
    "log_recent_drops",
    "log_recent_marks",
    "fb_drop",
    "fb_mark",
    "overload",
    "log_rate",
)
SERIES_NAMES = ("delay_over_target", "log_qlen", "signal_rate")
SUMMARY_NAMES = tuple(f"{s}_{k}" for s in SERIES_NAMES for k in ("mean", "last", "trend"))


def schema_dict() -> dict:
    return {
        "version": SCHEMA_VERSION,
        "abi_version": layout.ABI_VERSION,
        "scalars": list(SCALAR_NAMES),
        "series": list(SERIES_NAMES),
        "series_len": SERIES_LEN,
        "summary": list(SUMMARY_NAMES),
        "targets_ns": {"L": TARGET_NS[layout.CLASS_L], "C": TARGET_NS[layout.CLASS_C]},
    }


def schema_id() -> str:
    """A short fingerprint: equal iff the feature schema is equal."""
    blob = json.dumps(schema_dict(), sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def class_target_ns(records: np.ndarray) -> np.ndarray:
    return np.where(
        records["cls"] == layout.CLASS_L, TARGET_NS[layout.CLASS_L], TARGET_NS[layout.CLASS_C]
    ).astype(np.float32)


def scalar_features(records: np.ndarray) -> np.ndarray:
    """(n, len(SCALAR_NAMES)) float32, from the records alone."""
    n = len(records)
    out = np.empty((n, len(SCALAR_NAMES)), dtype=np.float32)
    target = class_target_ns(records)
    ecn = records["ecn"]
    flags = records["flags"]
    out[:, 0] = np.log1p(records["sojourn_ns"] / target)
    out[:, 1] = np.log1p(records["est_wait_ns"] / target)
    out[:, 2] = np.log1p(records["qlen_pkts"].astype(np.float32)) / 8.0
    out[:, 3] = np.log1p(records["qlen_bytes"].astype(np.float32)) / 16.0
    out[:, 4] = np.log1p(records["other_qlen_pkts"].astype(np.float32)) / 8.0
    out[:, 5] = records["fb_prob"] / np.float32(2.0**32)
    out[:, 6] = records["cls"] == layout.CLASS_L
    for i, code in enumerate((layout.ECN_NOT_ECT, layout.ECN_ECT1, layout.ECN_ECT0, layout.ECN_CE)):
        out[:, 7 + i] = ecn == code
    out[:, 11] = records["pkt_len"] / np.float32(1500.0)
    out[:, 12] = np.log1p(records["recent_drops"].astype(np.float32)) / 5.0
    out[:, 13] = np.log1p(records["recent_marks"].astype(np.float32)) / 5.0
    out[:, 14] = (flags & 0x01) != 0
    out[:, 15] = (flags & 0x02) != 0
    out[:, 16] = (flags & 0x04) != 0
    out[:, 17] = np.log1p(records["rate_kbps"].astype(np.float32)) / 20.0
    return out


@dataclass
class QueueHistory:
    """Per-queue time series, one snapshot per batch, vectorised over queues."""

    nqueues: int = 64
    series: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.series = np.zeros((self.nqueues, len(SERIES_NAMES), SERIES_LEN), np.float32)

    def reset(self) -> None:
        self.series[:] = 0

    def _grow(self, qmax: int) -> None:
        if qmax < self.nqueues:
            return
        new = max(qmax + 1, 2 * self.nqueues)
        grown = np.zeros((new, len(SERIES_NAMES), SERIES_LEN), np.float32)
        grown[: self.nqueues] = self.series
        self.series, self.nqueues = grown, new

    def lookup(self, records: np.ndarray) -> np.ndarray:
        """(n, channels, SERIES_LEN): each record's queue history (before this batch)."""
        q = records["queue_id"].astype(np.int64)
        self._grow(int(q.max(initial=0)))
        return self.series[q]

    def update(self, records: np.ndarray, scalars: np.ndarray) -> None:
        """Append one snapshot per queue present in the batch: its means."""
        if len(records) == 0:
            return
        q = records["queue_id"].astype(np.int64)
        self._grow(int(q.max()))
        count = np.bincount(q, minlength=self.nqueues).astype(np.float32)
        present = count > 0
        signal = scalars[:, 12] + scalars[:, 13]
        snap = (
            np.stack(
                [
                    np.bincount(q, scalars[:, 0], self.nqueues),
                    np.bincount(q, scalars[:, 2], self.nqueues),
                    np.bincount(q, signal, self.nqueues),
                ],
                axis=1,
            )
            / np.maximum(count, 1)[:, None]
        )
        rows = self.series[present]
        rows[:, :, :-1] = rows[:, :, 1:]
        rows[:, :, -1] = snap[present]
        self.series[present] = rows


def series_summary(series: np.ndarray) -> np.ndarray:
    """(n, C, T) -> (n, 3C): mean, last value and trend of each channel."""
    mean = series.mean(axis=2)
    last = series[:, :, -1]
    trend = last - series[:, :, : SERIES_LEN // 2].mean(axis=2)
    return np.concatenate([mean, last, trend], axis=1).astype(np.float32)


def valid_action_mask(records: np.ndarray) -> np.ndarray:
    """(n, 3) bool over {pass, drop, mark}: mark only for ECN-capable packets."""
    mask = np.ones((len(records), 3), dtype=bool)
    mask[:, 2] = records["ecn"] != layout.ECN_NOT_ECT
    return mask
