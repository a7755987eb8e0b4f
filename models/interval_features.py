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
and the EWMAs for what is older than the window.  ``interval-v2`` is the
schema for training (issue 15's list, every feature scale-free);
``interval-v3`` adds what says where a lower target is free (the queue's idle
time, the C standing queue, the capacity's trend, from the slow context);
``interval-v4`` adds the link's own idle time (departures against the
configured rate);
``issue15-smoke`` is a smaller set the interval tier's own tests and
benchmarks use.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from aqmllm.bridge import layout
from aqmllm.models.checkpoint import ModelError
from aqmllm.models.interval_history import SLOW_NAMES

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


_P32 = 2.0**-32
_L_REF_NS = 1e6  # the L queue's delays against DualPI2's 1 ms step


def _per_class(c: np.ndarray, ref_ns: np.ndarray, link_bps: np.ndarray, ivl: np.ndarray) -> list:
    """One class's scale-free columns: delay over its reference, burstiness
    (max over mean sojourn), signal fraction, backlog as time at link rate
    over the reference, arrival rate over capacity."""
    mean = c["sojourn_mean_ns"].astype(np.float64)
    arr = np.maximum(c["arr_pkts"].astype(np.float64), 1.0)
    signals = (c["marks"] + c["drop_enq"] + c["drop_deq"] + c["drop_limit"]).astype(np.float64)
    backlog_ns = c["backlog_bytes"] * 8e9 / link_bps
    return [
        np.log2(1.0 + mean / ref_ns),
        np.log2(1.0 + c["sojourn_max_ns"] / np.maximum(mean, 1000.0)),
        signals / arr,
        np.log2(1.0 + backlog_ns / ref_ns),
        c["arr_bytes"] * 8e9 / ivl / link_bps,
    ]


# interval-v2's columns, by name (what --ignore-features and the CMA tables read)
V2_NAMES = [
    *(f"{c}_{f}" for c in "CL" for f in ("delay", "burst", "signal", "backlog", "arrival")),
    *("c_slope", "busy", "rate_drop", "fb_prob", "res_mult_c", "res_mult_l", "res_target", "gap"),
]
# the residual in effect: the previous action, visible in the state
RESIDUAL_IN_EFFECT = ["res_mult_c", "res_mult_l", "res_target"]


def schema_names(schema: str) -> list[str]:
    """The column names of a named schema (interval-v2, -v3 or -v4); ValueError otherwise."""
    known = NAMES.get(schema)
    if known is None:
        raise ValueError(
            f"no column names for feature schema {schema!r} (named: {', '.join(NAMES)})"
        )
    return known


def columns_of(names: list[str], schema: str = "interval-v2") -> list[int]:
    """Column indices of feature names in a named schema; ValueError naming an unknown
    schema or name."""
    known = schema_names(schema)
    bad = [n for n in names if n not in known]
    if bad:
        raise ValueError(f"no {schema} feature {bad[0]!r} (features: {', '.join(known)})")
    return [known.index(n) for n in names]


@register("interval-v2", 18)
def v2_features(recs: np.ndarray, previous: np.ndarray, slow: np.ndarray) -> np.ndarray:
    """Per class C then L: delay over target (L: over 1 ms), burstiness,
    signal fraction, backlog over target, arrival rate over capacity; then
    the C delay's slope since the previous record, the busy fraction, the
    dequeue rate over the larger of its 1 s and 8 s means (below 1 when
    capacity falls: the capacity-change detector), the fallback's own
    probability (CoDel: its dropping state), the residual in effect
    (C and L multipliers, target scale, in octaves) and the idle-gap flag.
    Rates are over the configured link rate, else over the dequeue rate's
    8 s mean, so no feature carries the link's scale."""
    cls = recs["cls"]
    ivl = np.maximum(recs["interval_ns"].astype(np.float64), 1.0)
    dep_bps = cls["dep_bytes"].astype(np.float64).sum(axis=1) * 8e9 / ivl
    rate_1s, rate_8s = slow[:, 6], slow[:, 7]
    link = np.where(recs["rate_kbps"] > 0, recs["rate_kbps"].astype(np.float64) * 1000.0, rate_8s)
    link = np.maximum(link, 1.0)
    target = np.maximum(recs["target_ns"].astype(np.float64), 1.0)
    l_ref = np.full(len(recs), _L_REF_NS)
    c_cols = _per_class(cls[:, layout.CLASS_C], target, link, ivl)
    l_cols = _per_class(cls[:, layout.CLASS_L], l_ref, link, ivl)
    had = previous["interval_ns"] > 0
    slope = np.where(had, c_cols[0] - _delay_over_target(previous), 0.0)
    recent = np.maximum(np.maximum(rate_1s, rate_8s), 1.0)
    codel = recs["fb_id"] == layout.FALLBACKS["codel"]
    prob = np.where(codel, recs["fb_state"][:, 1], recs["fb_state"][:, 0] * _P32)
    res = [recs["res_log2_mult"][:, k] / 256.0 for k in (layout.CLASS_C, layout.CLASS_L)]
    gap = (recs["flags"] & layout.INTERVAL_FLAGS["gap"]) != 0
    return np.stack(
        [
            *c_cols,
            *l_cols,
            slope,
            recs["busy_ns"] / ivl,
            dep_bps / recent,
            prob,
            *res,
            recs["res_log2_target"] / 256.0,
            gap.astype(np.float64),
        ],
        axis=1,
    ).astype(np.float32)


# interval-v3: interval-v2's columns, then what says where a lower target is
# free (issue 16, ablation.md "the next lever"): the queue's idle time (no
# packet held; not the link's, which interval-v4 adds) over the last 1 s and
# 8 s, the C class's standing queue (its sojourn trough) over the same windows
# against the target in effect, and the capacity's trend.
V3_EXTRA = ["idle_1s", "idle_8s", "c_trough_1s", "c_trough_8s", "rate_trend"]
V3_NAMES = [*V2_NAMES, *V3_EXTRA]
_IDLE_REF = 0.01  # idle time in units of 1 % of the link: the judge's scale for utilisation
_TREND_MAX = 4.0  # octaves: a x0.2..x5 step is within it; a start from nothing is not
_SLOW = {n: i for i, n in enumerate(SLOW_NAMES)}  # slow-context column by name


@register("interval-v3", len(V3_NAMES))
def v3_features(recs: np.ndarray, previous: np.ndarray, slow: np.ndarray) -> np.ndarray:
    """interval-v2's 18 columns, then: the queue's idle time over the last 1 s and 8 s
    (log2(1 + idle / 1 %): 1 at 1 % idle, the half-point of the judge's
    utilisation margin), the C sojourn trough over 1 s and 8 s over the target
    in effect (log2(1 + trough / target): the standing queue that a lower
    target takes away without idling the link, 0 where the queue runs dry),
    and log2 of the 1 s over the 8 s dequeue rate (the capacity's trend,
    clipped to +-4 octaves; 0 until both are known)."""
    target = np.maximum(recs["target_ns"].astype(np.float64), 1.0)
    idle = [np.clip(1.0 - slow[:, _SLOW[f"busy_{t}"]], 0.0, 1.0) for t in ("1s", "8s")]
    trough = [np.maximum(slow[:, _SLOW[f"trough_c_ns_{t}"]], 0.0) for t in ("1s", "8s")]
    r1, r8 = slow[:, _SLOW["rate_bps_1s"]], slow[:, _SLOW["rate_bps_8s"]]
    both = (r1 > 0) & (r8 > 0)
    trend = np.where(both, np.log2(np.maximum(r1, 1.0) / np.maximum(r8, 1.0)), 0.0)
    extra = np.stack(
        [
            *(np.log2(1.0 + i / _IDLE_REF) for i in idle),
            *(np.log2(1.0 + t / target) for t in trough),
            np.clip(trend, -_TREND_MAX, _TREND_MAX),
        ],
        axis=1,
    )
    return np.concatenate([v2_features(recs, previous, slow), extra.astype(np.float32)], axis=1)


# interval-v4: interval-v3's columns, then the link's own idle time.  v3's
# idle columns are the time the queue held no packet, which is not the link's:
# the link sends the last packet while the queue is empty, so at 97.8 %
# utilisation a DualPI2 queue is empty 12 % of the time (ablation.md, "the
# integrating search over idle time").  The link's idle time is 1 - departures
# over the configured rate (the record's rate_kbps): on two traced runs it
# matched the judge's utilisation to 0.0004.  Where the rate is unknown (0)
# the queue's idle time stands in: the link cannot idle while the queue holds
# packets, so it is the bound that errs towards "there is idle time".
V4_EXTRA = ["link_idle_1s", "link_idle_8s"]
V4_NAMES = [*V3_NAMES, *V4_EXTRA]
NAMES = {"interval-v2": V2_NAMES, "interval-v3": V3_NAMES, "interval-v4": V4_NAMES}


@register("interval-v4", len(V4_NAMES))
def v4_features(recs: np.ndarray, previous: np.ndarray, slow: np.ndarray) -> np.ndarray:
    """interval-v3's 23 columns, then the link's idle time over the last 1 s and
    8 s, on v3's idle scale (log2(1 + idle / 1 %)): 1 - the mean departure rate
    over the newest record's configured link rate, clipped to [0, 1] (a rate
    just stepped down reads as no idle time until the mean catches up)."""
    link_bps = recs["rate_kbps"].astype(np.float64) * 1000.0
    known = link_bps > 0
    cols = []
    for t in ("1s", "8s"):
        sent = slow[:, _SLOW[f"rate_bps_{t}"]] / np.where(known, link_bps, 1.0)
        queue_idle = 1.0 - slow[:, _SLOW[f"busy_{t}"]]
        idle = np.clip(np.where(known, 1.0 - sent, queue_idle), 0.0, 1.0)
        cols.append(np.log2(1.0 + idle / _IDLE_REF))
    extra = np.stack(cols, axis=1).astype(np.float32)
    return np.concatenate([v3_features(recs, previous, slow), extra], axis=1)
