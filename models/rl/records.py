"""Interval records as numpy structured arrays: the one place models take their dtype from.

The authority is ``struct aqmllm_interval`` in kmod/include/aqmllm_ring.h
(issue 15); ``INTERVAL_DTYPE`` and ``CLASS_IVL_DTYPE`` are the dtypes the
ABI view (:mod:`aqmllm.bridge.layout`) derives from it through cffi, so a
record read from a ring, simulated or written here has exactly the ABI's
layout (tests/models/test_interval_records.py holds the names and offsets
the models rely on).

Per-class fields live in ``cls``, a (2,) sub-array indexed by CLASS_C = 0
and CLASS_L = 1; :func:`cls_field` reads one of them for a batch.
"""

from __future__ import annotations

import numpy as np
from aqmllm.bridge import layout  # the ABI view: dtypes and constants

CLASS_C = layout.CLASS_C
CLASS_L = layout.CLASS_L
FB_DUALPI2 = int(layout.lib.AQMLLM_FB_DUALPI2)
FB_PIE = int(layout.lib.AQMLLM_FB_PIE)
FB_CODEL = int(layout.lib.AQMLLM_FB_CODEL)
PROB_ONE = float(1 << 32)  # fb_state probabilities are 2^-32 fixed point
Q8 = 256.0  # residual log2 fields are Q8 fixed point

CLASS_IVL_DTYPE = layout.CLASS_IVL_DTYPE
INTERVAL_DTYPE = layout.INTERVAL_DTYPE
CLASS_FIELDS = CLASS_IVL_DTYPE.names
HEAD_FIELDS = tuple(n for n in INTERVAL_DTYPE.names if n not in ("cls", "pad"))


def cls_field(records: np.ndarray, name: str, cls: int) -> np.ndarray:
    """One per-class field for a batch of interval records, as float64."""
    return records["cls"][..., cls][name].astype(np.float64)


def check_records(records: np.ndarray, what: str = "interval records") -> None:
    """Refuse arrays that are not interval records (checked by field names)."""
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
