"""Feature schema interval-v3 (issue 16, the next lever): interval-v2's columns, then idle
time, the C standing queue and the capacity's trend from the history's slow context."""

from __future__ import annotations

import numpy as np
import pytest
from aqmllm.bridge import layout
from aqmllm.models.interval_features import V2_NAMES, V3_NAMES, columns_of, feature_fn
from aqmllm.models.interval_history import SLOW_NAMES, IntervalHistory

C = layout.CLASS_C
MS = 1_000_000


def _recs(sojourn_ms: list[float], busy: float = 1.0, ivl_ms: int = 100) -> np.ndarray:
    """One queue's records, each ivl_ms long, C mean sojourn as given, target 10 ms."""
    r = np.zeros(len(sojourn_ms), layout.INTERVAL_DTYPE)
    r["seq"] = np.arange(1, len(r) + 1)
    r["interval_ns"] = ivl_ms * MS
    r["busy_ns"] = int(busy * ivl_ms * MS)
    r["target_ns"] = 10 * MS
    r["rate_kbps"] = 10_000
    r["fb_id"] = layout.FALLBACKS["dualpi2"]
    r["cls"]["sojourn_mean_ns"][:, C] = np.asarray(sojourn_ms) * MS
    r["cls"]["dep_bytes"][:, C] = 125_000 * ivl_ms // 100  # 10 Mbit/s
    return r


def _feed(h: IntervalHistory, recs: np.ndarray) -> None:
    for k in range(len(recs)):  # one record per batch, as a queue's records arrive
        h.update(recs[k : k + 1])


def _slow(h: IntervalHistory, name: str) -> float:
    return float(h.slow(np.array([0]))[0, SLOW_NAMES.index(name)])


def test_the_trough_falls_at_once_and_rises_as_a_mean() -> None:
    h = IntervalHistory(window=2)
    _feed(h, _recs([20.0] * 30))  # 3 s at a 20 ms standing queue
    assert _slow(h, "trough_c_ns_1s") == pytest.approx(20 * MS)
    _feed(h, _recs([2.0]))  # one interval where the queue nearly ran dry
    assert _slow(h, "trough_c_ns_1s") == _slow(h, "trough_c_ns_8s") == 2 * MS
    assert _slow(h, "delay_c_ns_1s") > 15 * MS  # the mean barely moves
    _feed(h, _recs([20.0] * 10))  # a second back at 20 ms: 1 - e^-1 of the way up
    assert _slow(h, "trough_c_ns_1s") == pytest.approx((20 - 18 * np.exp(-1.0)) * MS, rel=1e-9)
    assert _slow(h, "trough_c_ns_8s") == pytest.approx((20 - 18 * np.exp(-1 / 8)) * MS, rel=1e-9)


def test_v3_is_v2_then_idle_standing_queue_and_trend() -> None:
    fn, n = feature_fn("interval-v3")
    assert n == len(V3_NAMES) == len(V2_NAMES) + 5 and V3_NAMES[: len(V2_NAMES)] == V2_NAMES
    h = IntervalHistory(window=2)
    h.track("interval-v3", fn, n)
    h.track("interval-v2", *feature_fn("interval-v2"))
    recs = _recs([10.0] * 80, busy=0.98)  # 8 s, 2 % idle, a standing queue at the target
    _feed(h, recs)
    v3 = h.features("interval-v3", np.array([0]), 1)[0, -1]
    v2 = h.features("interval-v2", np.array([0]), 1)[0, -1]
    np.testing.assert_array_equal(v3[: len(V2_NAMES)], v2)
    f = dict(zip(V3_NAMES, v3.tolist(), strict=True))
    assert f["idle_1s"] == pytest.approx(np.log2(3.0), rel=1e-5)  # 2 % idle: log2(1 + 2)
    assert f["idle_8s"] == pytest.approx(np.log2(3.0), rel=1e-5)
    assert f["c_trough_1s"] == pytest.approx(1.0, rel=1e-6)  # trough 10 ms over 10 ms
    assert f["rate_trend"] == pytest.approx(0.0, abs=1e-6)
    # the capacity doubles: the 1 s mean follows before the 8 s one
    up = _recs([10.0] * 10, busy=0.98)
    up["cls"]["dep_bytes"][:, C] *= 2
    _feed(h, up)
    f = dict(
        zip(V3_NAMES, h.features("interval-v3", np.array([0]), 1)[0, -1].tolist(), strict=True)
    )
    want = np.log2((2 - np.exp(-1.0)) / (2 - np.exp(-1 / 8)))
    assert f["rate_trend"] == pytest.approx(want, rel=1e-5) and f["rate_trend"] > 0.2
    # an idle gap empties the queue: no standing queue, and idle time shows
    gap = _recs([0.0], busy=0.0)
    _feed(h, gap)
    f = dict(
        zip(V3_NAMES, h.features("interval-v3", np.array([0]), 1)[0, -1].tolist(), strict=True)
    )
    assert f["c_trough_1s"] == 0.0 and f["c_trough_8s"] == 0.0
    assert f["idle_1s"] > f["idle_8s"] > np.log2(3.0)


def test_v3_features_do_not_carry_the_link_s_scale() -> None:
    fn, n = feature_fn("interval-v3")
    slow = np.zeros((1, len(SLOW_NAMES)))
    for name, v in (("busy_1s", 0.97), ("busy_8s", 0.99), ("trough_c_ns_1s", 5 * MS)):
        slow[0, SLOW_NAMES.index(name)] = v
    a, b = _recs([10.0]), _recs([10.0])
    b["rate_kbps"] *= 10
    b["cls"]["dep_bytes"] *= 10
    sa, sb = slow.copy(), slow.copy()
    for name in ("rate_bps_1s", "rate_bps_8s"):
        sa[0, SLOW_NAMES.index(name)], sb[0, SLOW_NAMES.index(name)] = 10e6, 100e6
    zero = np.zeros(1, layout.INTERVAL_DTYPE)
    np.testing.assert_array_equal(fn(a, zero, sa), fn(b, zero, sb))
    assert fn(a, zero, sa).shape == (1, n)


def test_columns_are_named_per_schema() -> None:
    assert columns_of(["busy"]) == columns_of(["busy"], "interval-v3") == [V2_NAMES.index("busy")]
    assert columns_of(["rate_trend"], "interval-v3") == [len(V3_NAMES) - 1]
    with pytest.raises(ValueError, match="no interval-v2 feature 'idle_1s'"):
        columns_of(["idle_1s"])
    with pytest.raises(ValueError, match="no column names for feature schema"):
        columns_of(["busy"], "interval-v9")
