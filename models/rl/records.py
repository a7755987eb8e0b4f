"""Interval records as numpy structured arrays: the one place their dtype comes from.

The authority is ``struct aqmllm_interval`` in kmod/include/aqmllm_ring.h
(issue 15).  Until that header exists this module builds a stand-in with
exactly the field names the lead fixed in PLAN-interval.md; offsets are
not the ABI's, and nothing here is written to a ring.  When the C struct
lands, ``INTERVAL_DTYPE`` becomes the cffi-derived dtype (one line:
``struct_dtype("struct aqmllm_interval")`` from the ABI view module) and
every user keeps working through the names.

Per-class fields live in ``cls``, a (2,) sub-array indexed by CLASS_C = 0
and CLASS_L = 1; :func:`cls_field` reads one of them for a batch.
"""

from __future__ import annotations

import numpy as np
from aqmllm.bridge import layout  # the ABI view (issue 14 may rename it): constants only

CLASS_C = layout.CLASS_C
CLASS_L = layout.CLASS_L
FB_DUALPI2 = int(layout.lib.AQMLLM_FB_DUALPI2)
FB_PIE = int(layout.lib.AQMLLM_FB_PIE)
FB_CODEL = int(layout.lib.AQMLLM_FB_CODEL)
PROB_ONE = float(1 << 32)  # fb_state probabilities are 2^-32 fixed point
Q8 = 256.0  # residual log2 fields are Q8 fixed point

CLASS_IVL_DTYPE = np.dtype(
    [
        ("backlog_pkts", "<u4"),
        ("backlog_bytes", "<u4"),
        ("arr_pkts", "<u4"),
        ("arr_bytes", "<u4"),
        ("dep_pkts", "<u4"),
        ("dep_bytes", "<u4"),
        ("sojourn_max_ns", "<u4"),
        ("sojourn_mean_ns", "<u4"),
        ("drop_enq", "<u4"),
        ("drop_deq", "<u4"),
        ("drop_limit", "<u4"),
        ("marks", "<u4"),
        ("ecn", "<u4", (4,)),
    ]
)
INTERVAL_DTYPE = np.dtype(
    [
        ("seq", "<u8"),
        ("t_ns", "<u8"),
        ("queue_id", "<u4"),
        ("interval_ns", "<u4"),
        ("busy_ns", "<u4"),
        ("rate_kbps", "<u4"),
        ("fb_id", "<u2"),
        ("flags", "<u2"),
        ("fb_state", "<u4", (3,)),
        ("target_ns", "<u4"),
        ("res_log2_mult", "<i2", (2,)),
        ("res_step_us", "<u2"),
        ("res_log2_target", "<i2"),
        ("pad", "<u4"),
        ("cls", CLASS_IVL_DTYPE, (2,)),
    ]
)
CLASS_FIELDS = CLASS_IVL_DTYPE.names
HEAD_FIELDS = tuple(n for n in INTERVAL_DTYPE.names if n not in ("cls", "pad"))


def cls_field(records: np.ndarray, name: str, cls: int) -> np.ndarray:
    """One per-class field for a batch of interval records, as float64."""
    return records["cls"][..., cls][name].astype(np.float64)


def check_records(records: np.ndarray, what: str = "interval records") -> None:
    """Refuse arrays that are not interval records (by field names, so both dtypes pass)."""
    names = records.dtype.names or ()
    missing = [n for n in HEAD_FIELDS + ("cls",) if n not in names]
    if missing:
        raise ValueError(f"{what}: not interval records (missing field {missing[0]!r})")
    sub = records.dtype["cls"].base.names or ()
    lacking = [n for n in CLASS_FIELDS if n not in sub]
    if lacking:
        raise ValueError(f"{what}: per-class part lacks field {lacking[0]!r}")


def empty(n: int) -> np.ndarray:
    return np.zeros(n, INTERVAL_DTYPE)
