"""Feature schema: what the models see of a ring record and its queue.

Two kinds of input, both normalised to roughly unit scale:

* scalars, one vector per record, computed from the record alone;
* series, per queue: the last ``SERIES_LEN`` per-batch snapshots of the
  queue's delay, backlog and signal rate, kept by :class:`QueueHistory`
  (the teacher's Conv1d reads them; the student reads their summary).

The arithmetic lives once, in C (``models/csrc/student_fast.c``), used by
training, collection and the daemon alike; this module names the features,
fingerprints the schema and calls it.

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

SCHEMA_VERSION = 1  # the C side checks its AQS_SCHEMA_VERSION against this at import
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


def _ffi():
    from aqmllm.models._studentc import ffi, lib

    if not _checked:
        _check_c_schema(lib)
    return ffi, lib


_checked: list[bool] = []


def _check_c_schema(lib) -> None:
    """The names here and the arithmetic in C must describe one schema."""
    c = (lib.AQS_SCHEMA_VERSION, lib.AQS_NSCALARS, lib.AQS_NCHANNELS, lib.AQS_SERIES_LEN)
    py = (SCHEMA_VERSION, len(SCALAR_NAMES), len(SERIES_NAMES), SERIES_LEN)
    targets = (lib.AQS_TARGET_L_NS, lib.AQS_TARGET_C_NS)
    if (
        c != py
        or lib.AQS_NSUMMARY != len(SUMMARY_NAMES)
        or targets
        != (
            TARGET_NS[layout.CLASS_L],
            TARGET_NS[layout.CLASS_C],
        )
    ):
        raise ImportError(f"student_fast.h {c} disagrees with models/features.py {py}: rebuild")
    _checked.append(True)


def as_records(records: np.ndarray) -> np.ndarray:
    """Records as a C-contiguous array of the ring's record type (a view when possible)."""
    if records.dtype != layout.RECORD_DTYPE:
        raise ValueError(f"expected ring records ({layout.RECORD_DTYPE}), got {records.dtype}")
    return np.ascontiguousarray(records)


def scalar_features(records: np.ndarray) -> np.ndarray:
    """(n, len(SCALAR_NAMES)) float32, from the records alone (computed in C)."""
    ffi, lib = _ffi()
    recs = as_records(records)
    out = np.empty((len(recs), len(SCALAR_NAMES)), dtype=np.float32)
    lib.aqs_scalar_features(
        ffi.from_buffer("struct aqmllm_record[]", recs), len(recs), ffi.from_buffer("float[]", out)
    )
    return out


@dataclass
class QueueHistory:
    """Per-queue time series, one snapshot per batch, vectorised over queues."""

    nqueues: int = 64
    series: np.ndarray = field(init=False)
    scratch: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.series = np.zeros((self.nqueues, len(SERIES_NAMES), SERIES_LEN), np.float32)
        self.scratch = np.zeros((self.nqueues, 4), np.float64)  # per-queue sums, kept zero

    def reset(self) -> None:
        self.series[:] = 0

    def _grow(self, qmax: int) -> None:
        if qmax < self.nqueues:
            return
        new = max(qmax + 1, 2 * self.nqueues)
        grown = np.zeros((new, len(SERIES_NAMES), SERIES_LEN), np.float32)
        grown[: self.nqueues] = self.series
        self.series, self.nqueues = grown, new
        self.scratch = np.zeros((new, 4), np.float64)

    def lookup(self, records: np.ndarray) -> np.ndarray:
        """(n, channels, SERIES_LEN): each record's queue history (before this batch)."""
        q = records["queue_id"].astype(np.int64)
        self._grow(int(q.max(initial=0)))
        return self.series[q]

    def update(self, records: np.ndarray, scalars: np.ndarray) -> None:
        """Append one snapshot per queue present in the batch: its means."""
        if len(records) == 0:
            return
        ffi, lib = _ffi()
        recs = as_records(records)
        self._grow(int(recs["queue_id"].max()))
        sc = np.ascontiguousarray(scalars, dtype=np.float32)
        if sc.shape != (len(recs), len(SCALAR_NAMES)):
            raise ValueError(f"scalars of shape {sc.shape} for {len(recs)} records")
        rc = lib.aqs_history_update(
            ffi.from_buffer("struct aqmllm_record[]", recs),
            len(recs),
            ffi.from_buffer("float[]", sc),
            ffi.from_buffer("float[]", self.series),
            self.nqueues,
            ffi.from_buffer("double[]", self.scratch),
        )
        if rc != lib.AQS_OK:
            raise ValueError(f"history update failed (code {rc})")


def series_summary(series: np.ndarray) -> np.ndarray:
    """(n, C, T) -> (n, 3C): mean, last value and trend of each channel (in C)."""
    ffi, lib = _ffi()
    s = np.ascontiguousarray(series, dtype=np.float32)
    if s.ndim != 3 or s.shape[1:] != (len(SERIES_NAMES), SERIES_LEN):
        raise ValueError(
            f"series of shape {s.shape}, expected (n, {len(SERIES_NAMES)}, {SERIES_LEN})"
        )
    out = np.empty((len(s), len(SUMMARY_NAMES)), dtype=np.float32)
    lib.aqs_series_summary(ffi.from_buffer("float[]", s), len(s), ffi.from_buffer("float[]", out))
    return out


def valid_action_mask(records: np.ndarray) -> np.ndarray:
    """(n, 3) bool over {pass, drop, mark}: mark only for ECN-capable packets."""
    mask = np.ones((len(records), 3), dtype=bool)
    mask[:, 2] = records["ecn"] != layout.ECN_NOT_ECT
    return mask
