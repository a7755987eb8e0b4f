"""Feature schema interval-v2: scale-free, and each feature says what it claims."""

from __future__ import annotations

import numpy as np
from aqmllm.bridge import layout
from aqmllm.models.interval_features import feature_fn
from aqmllm.models.interval_history import SLOW_NAMES

C, L = layout.CLASS_C, layout.CLASS_L
NAMES = (
    *(f"{k}_{c}" for c in "CL" for k in ("delay", "burst", "signal", "backlog", "arrivals")),
    "slope", "busy", "rate_vs_recent", "prob", "res_c", "res_l", "res_target", "gap",
)  # fmt: skip


def _rec(scale: float = 1.0, dep_bytes: int = 125_000) -> np.ndarray:
    """One 100 ms interval of a 10 Mbit/s queue (scale multiplies every rate and byte count)."""
    r = np.zeros(1, layout.INTERVAL_DTYPE)
    r["interval_ns"], r["busy_ns"], r["t_ns"] = 100_000_000, 80_000_000, 1_000_000_000
    r["rate_kbps"] = int(10_000 * scale)
    r["target_ns"] = 15_000_000
    r["fb_id"] = layout.FALLBACKS["dualpi2"]
    r["fb_state"][0, 0] = 2**30  # p' = 0.25
    c = r["cls"][0]
    c["arr_pkts"][C], c["arr_bytes"][C] = 100 * scale, int(120_000 * scale)
    c["dep_pkts"][C], c["dep_bytes"][C] = 90 * scale, int(dep_bytes * scale)
    c["marks"][C], c["drop_deq"][C] = 4 * scale, 1 * scale
    c["sojourn_mean_ns"][C], c["sojourn_max_ns"][C] = 15_000_000, 60_000_000
    c["backlog_bytes"][C] = int(18_750 * scale)  # 15 ms at 10 Mbit/s
    c["arr_pkts"][L], c["arr_bytes"][L] = 10 * scale, int(10_000 * scale)
    c["sojourn_mean_ns"][L], c["sojourn_max_ns"][L] = 500_000, 2_000_000
    r["res_log2_mult"][0, C] = 256  # x2 on C in effect
    r["cls"] = c
    return r


def _slow(rate_bps: float) -> np.ndarray:
    s = np.zeros((1, len(SLOW_NAMES)))
    s[0, SLOW_NAMES.index("rate_bps_1s")] = rate_bps
    s[0, SLOW_NAMES.index("rate_bps_8s")] = rate_bps
    return s


def _features(rec: np.ndarray, slow: np.ndarray, prev: np.ndarray | None = None) -> dict:
    fn, n = feature_fn("interval-v2")
    prev = np.zeros(1, layout.INTERVAL_DTYPE) if prev is None else prev
    out = fn(rec, prev, slow)
    assert out.shape == (1, n) == (1, len(NAMES)) and out.dtype == np.float32
    return dict(zip(NAMES, out[0].tolist(), strict=True))


def test_the_features_do_not_carry_the_link_s_scale() -> None:
    slow_10m = _slow(10e6)
    a = _features(_rec(), slow_10m)
    b = _features(_rec(scale=10.0), _slow(100e6))
    assert a == b


def test_each_feature_means_what_it_says() -> None:
    f = _features(_rec(), _slow(10e6))
    assert f["delay_C"] == 1.0  # log2(1 + 15/15)
    assert f["burst_C"] == np.float32(np.log2(1 + 4))  # max 4x the mean
    assert f["signal_C"] == np.float32(0.05)  # 4 marks + 1 drop of 100 arrivals
    assert f["backlog_C"] == 1.0  # 15 ms of backlog at link rate, over 15 ms
    assert f["arrivals_C"] == np.float32(0.96)  # 9.6 of 10 Mbit/s
    assert f["delay_L"] == np.float32(np.log2(1.5))  # 0.5 ms over 1 ms
    assert f["busy"] == np.float32(0.8) and f["gap"] == 0.0
    assert f["prob"] == 0.25 and f["res_c"] == 1.0 and f["res_l"] == 0.0
    assert f["slope"] == 0.0  # no previous record


def test_a_capacity_drop_shows_against_the_recent_rate() -> None:
    # The link ran at 10 Mbit/s for seconds; this interval only 2 Mbit/s left.
    steady = _features(_rec(), _slow(10e6))
    dropped = _features(_rec(dep_bytes=25_000), _slow(10e6))
    assert 0.95 < steady["rate_vs_recent"] < 1.05
    assert dropped["rate_vs_recent"] < 0.25


def test_the_c_delay_slope_and_codel_s_state() -> None:
    prev = _rec()
    prev["cls"]["sojourn_mean_ns"][0, C] = 0
    f = _features(_rec(), _slow(10e6), prev)
    assert f["slope"] == 1.0  # from 0 to 1 in log2(1 + delay/target)
    codel = _rec()
    codel["fb_id"] = layout.FALLBACKS["codel"]
    codel["fb_state"][0] = (7, 1, 0)  # count 7, dropping
    assert _features(codel, _slow(10e6))["prob"] == 1.0
