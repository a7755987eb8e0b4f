"""Feature functions of interval-tier models, by name: what a checkpoint's
manifest names in ``interval.features`` and the daemon looks up here.

A feature function maps each queue's window of interval records to the
model's state:

    fn(window (Q, W) INTERVAL_DTYPE records, oldest first, zero rows before
       the queue's first record; filled (Q,) how many rows are real;
       slow (Q, S) the daemon's slow context, columns SLOW_NAMES of
       aqmllm.daemon.interval_history) -> (Q, W, F) float32

The schema of issue 16 (schema v2) registers itself here with
:func:`register`.  ``issue15-smoke`` is a small scale-free set that the
interval tier's own tests and benchmarks use until then; it is not a
trained schema.
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


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    return np.where(den > 0, num / np.maximum(den, 1e-30), 0.0)


@register("issue15-smoke", 8)
def smoke_features(window: np.ndarray, filled: np.ndarray, slow: np.ndarray) -> np.ndarray:
    """Delay over target (mean, max), L delay over 1 ms, busy fraction, dequeue and
    arrival rate over the link rate, the fallback's base probability, the 8 s busy EWMA."""
    q, w = window.shape
    cls = window["cls"]
    target = np.maximum(window["target_ns"].astype(np.float64), 1.0)
    ivl = np.maximum(window["interval_ns"].astype(np.float64), 1.0)
    link = window["rate_kbps"].astype(np.float64) * 1000.0
    dep = cls["dep_bytes"].astype(np.float64).sum(axis=-1) * 8e9 / ivl
    arr = cls["arr_bytes"].astype(np.float64).sum(axis=-1) * 8e9 / ivl
    c, lq = layout.CLASS_C, layout.CLASS_L
    out = np.stack(
        [
            np.log2(1.0 + cls["sojourn_mean_ns"][..., c] / target),
            np.log2(1.0 + cls["sojourn_max_ns"][..., c] / target),
            np.log2(1.0 + cls["sojourn_mean_ns"][..., lq] / 1e6),
            window["busy_ns"] / ivl,
            _ratio(dep, link),
            _ratio(arr, link),
            window["fb_state"][..., 0] / 2.0**32,
            np.broadcast_to(slow[:, 1:2] if slow.shape[1] > 1 else 0.0, (q, w)),
        ],
        axis=-1,
    ).astype(np.float32)
    out[np.arange(w)[None, :] < (w - np.asarray(filled))[:, None]] = 0.0
    return out
