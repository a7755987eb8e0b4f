"""Feature functions of interval-tier models, by name: what a checkpoint's
manifest names in ``interval.features`` and the daemon looks up here.

A feature function computes one row of a model's state per interval record,
once, when the record arrives (the daemon keeps the rows of each queue's
last W records and hands a model its window):

    fn(records (n,) INTERVAL_DTYPE, previous (n,) the same queue's record
       before each (all zero before a queue's first), slow (n, S) the
       daemon's slow context after each record, columns SLOW_NAMES of
       aqmllm.models.interval_history) -> (n, F) float32

This is issue 16's causal ``FeatureFn`` (records (T,) -> (T, F)) in the
form a daemon can afford: per record, with the previous record for slopes
and the EWMAs for what is older than the window.  Their schema v2
registers itself here with :func:`register`.  ``issue15-smoke`` is a small
scale-free set that the interval tier's own tests and benchmarks use until
then; it is not a trained schema.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from aqmllm.bridge import layout
from aqmllm.models.checkpoint import ModelError

FeatureFn = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
FEATURES: dict[str, tuple[FeatureFn, int]] = {}


def register(name: str, n_features: int) -> Callable[[FeatureFn], FeatureFn]:
    def add(fn: FeatureFn) -> FeatureFn:
        FEATURES[name] = (fn, n_features)
        return fn

    return add


def feature_fn(name: str) -> tuple[FeatureFn, int]:
    """(function, features per row) of a registered schema; ModelError if unknown."""
    if name not in FEATURES:
        known = ", ".join(sorted(FEATURES)) or "none"
        raise ModelError(f"interval feature schema {name!r} is not in this build (known: {known})")
    return FEATURES[name]


def _delay_over_target(recs: np.ndarray) -> np.ndarray:
    target = np.maximum(recs["target_ns"].astype(np.float64), 1.0)
    return np.log2(1.0 + recs["cls"]["sojourn_mean_ns"][:, layout.CLASS_C] / target)


@register("issue15-smoke", 8)
def smoke_features(recs: np.ndarray, previous: np.ndarray, slow: np.ndarray) -> np.ndarray:
    """C delay over target and its change since the previous record, L delay over
    1 ms, busy fraction, dequeue and arrival rate over the link rate, the
    fallback's base probability, the 8 s busy EWMA."""
    cls = recs["cls"]
    ivl = np.maximum(recs["interval_ns"].astype(np.float64), 1.0)
    link = np.maximum(recs["rate_kbps"].astype(np.float64) * 1000.0, 1.0)
    known = recs["rate_kbps"] > 0
    dep = cls["dep_bytes"].astype(np.float64).sum(axis=1) * 8e9 / ivl
    arr = cls["arr_bytes"].astype(np.float64).sum(axis=1) * 8e9 / ivl
    delay = _delay_over_target(recs)
    had = previous["interval_ns"] > 0
    busy_8s = slow[:, 1] if slow.shape[1] > 1 else np.zeros(len(recs))
    return np.stack(
        [
            delay,
            np.where(had, delay - _delay_over_target(previous), 0.0),
            np.log2(1.0 + cls["sojourn_mean_ns"][:, layout.CLASS_L] / 1e6),
            recs["busy_ns"] / ivl,
            np.where(known, dep / link, 0.0),
            np.where(known, arr / link, 0.0),
            recs["fb_state"][:, 0] / 2.0**32,
            busy_8s,
        ],
        axis=1,
    ).astype(np.float32)
