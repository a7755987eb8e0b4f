"""The interval reward on a hand-made record sequence, and the episode score's judge rule."""

from __future__ import annotations

import numpy as np
import pytest
from aqmllm.models.rl import records as R
from aqmllm.models.rl.reward import (
    episode_objective,
    episode_score,
    interval_rewards,
    metrics_from_intervals,
    reward_terms,
)

MS = 1_000_000


def _set(rec: np.ndarray, i: int, cls: int, **fields: int) -> None:
    for name, value in fields.items():
        rec["cls"][i, cls][name] = value


def _sequence() -> np.ndarray:
    """Four 16 ms intervals of a 10 Mbit/s link (20 000 bytes of capacity each)."""
    rec = R.empty(4)
    rec["interval_ns"] = 16 * MS
    rec["rate_kbps"] = 10_000
    rec["t_ns"] = np.cumsum(rec["interval_ns"])
    # 0: full link, C delay 10/30 ms, L 0.5/3 ms, one AQM drop, one L mark
    _set(
        rec,
        0,
        R.CLASS_C,
        arr_pkts=12,
        dep_pkts=12,
        dep_bytes=18000,
        sojourn_mean_ns=10 * MS,
        sojourn_max_ns=30 * MS,
        drop_enq=1,
    )
    _set(
        rec,
        0,
        R.CLASS_L,
        arr_pkts=2,
        dep_pkts=2,
        dep_bytes=2000,
        sojourn_mean_ns=MS // 2,
        sojourn_max_ns=3 * MS,
        marks=1,
    )
    # 1: half the link used with demand; a residual (target x1/2, C x4) in effect;
    # L sojourn fields without L departures must be ignored
    _set(
        rec,
        1,
        R.CLASS_C,
        arr_pkts=6,
        dep_pkts=7,
        dep_bytes=10000,
        sojourn_mean_ns=2 * MS,
        sojourn_max_ns=4 * MS,
    )
    _set(rec, 1, R.CLASS_L, sojourn_mean_ns=5 * MS, sojourn_max_ns=5 * MS)
    rec["res_log2_target"][1] = -256
    rec["res_log2_mult"][1] = (512, 0)
    # 2: the record after a 200 ms idle gap: no utilisation cost
    rec["interval_ns"][2] = 200 * MS
    _set(
        rec,
        2,
        R.CLASS_C,
        arr_pkts=1,
        dep_pkts=1,
        dep_bytes=1500,
        sojourn_mean_ns=MS // 10,
        sojourn_max_ns=MS // 10,
    )
    # 3: tail drops and a dequeue drop on a full link, two C marks
    _set(
        rec,
        3,
        R.CLASS_C,
        arr_pkts=20,
        dep_pkts=17,
        dep_bytes=20000,
        sojourn_mean_ns=20 * MS,
        sojourn_max_ns=40 * MS,
        drop_limit=2,
        drop_deq=1,
        marks=2,
    )
    return rec


def test_reward_matches_hand_computed_values() -> None:
    r = interval_rewards(_sequence())
    expected = [
        -(2.0 + 0.5 + 5 / 14 + 0.5 / 14),  # C (0.5*10+0.5*30)/10; L 0.25*2; loss; mark
        -(50.0 + 0.3 + 0.06),  # util 100*0.5; C (1+2)/10; residual 0.02*(1+2)
        -0.01,  # no util cost after a gap; C (0.05+0.05)/10
        -(3.0 + (5 * 1 + 20 * 2) / 20 + 0.5 * 2 / 20),  # C; loss (AQM 1, tail 2); marks
    ]
    np.testing.assert_allclose(r, expected, rtol=1e-6)
    terms = reward_terms(_sequence())
    assert terms["delay_l"][1] == 0.0 and terms["util"][2] == 0.0


def test_a_drop_storm_costs_a_share_of_the_packets_handled_not_of_arrivals() -> None:
    # A standing queue flushed at dequeue: 2879 drops, 8 departures, 1 arrival
    # (seen in a pool); over arrivals alone this one interval cost 14 000.
    rec = R.empty(1)
    rec["interval_ns"], rec["rate_kbps"] = 16 * MS, 10_000
    _set(rec, 0, R.CLASS_C, arr_pkts=1, dep_pkts=8, dep_bytes=12000, drop_deq=2879)
    loss = reward_terms(rec)["loss"][0]
    assert loss == pytest.approx(5 * 2879 / 2887)


def test_unknown_rate_uses_busy_time_and_no_demand_costs_nothing() -> None:
    rec = R.empty(2)
    rec["interval_ns"] = 16 * MS
    rec["busy_ns"] = (8 * MS, 0)
    _set(rec, 0, R.CLASS_C, arr_pkts=3, dep_pkts=3, dep_bytes=4500)
    terms = reward_terms(rec)
    assert terms["util"][0] == pytest.approx(50.0)
    assert terms["util"][1] == 0.0  # nothing arrived, nothing queued: an idle link is fine


def test_lower_delay_at_equal_utilisation_earns_more() -> None:
    a, b = _sequence()[:1].copy(), _sequence()[:1].copy()
    b["cls"][0, R.CLASS_C]["sojourn_max_ns"] = 15 * MS
    assert interval_rewards(b)[0] > interval_rewards(a)[0]


def test_reward_refuses_other_arrays() -> None:
    with pytest.raises(ValueError, match="not interval records"):
        interval_rewards(np.zeros(3, [("seq", "<u8")]))


def _m(util: float, c: float | None, lat: float | None) -> dict:
    return {
        "utilisation": util,
        "C": {} if c is None else {"delay_p99_ms": c},
        "L": {} if lat is None else {"delay_p99_ms": lat},
    }


REF = _m(0.99, 20.0, 2.0)


@pytest.mark.parametrize(
    ("run", "beats", "score", "regression"),
    [
        (_m(0.986, 10.0, 1.5), True, np.log(2), False),  # inside the 0.5 % band
        (_m(0.98, 10.0, 1.5), False, np.log(2) - 1.0, False),  # 0.5 % below the band
        (_m(0.99, 10.0, 3.0), False, np.log(2) - 0.5, False),  # L 1 ms over ref's 2
        (_m(0.99, 25.0, 1.0), False, np.log(20 / 25) - 1.0, True),  # C p99 +25 %
        (_m(0.96, 10.0, 1.0), False, np.log(2) - 5.0 - 1.0, True),  # 3 % utilisation lost
        (_m(0.99, 20.0, 1.0), False, 0.0, False),  # equal C p99 does not beat
    ],
)
def test_episode_score_follows_the_judge(run, beats, score, regression) -> None:
    s = episode_score(run, REF)
    assert s.beats == beats and s.regression == regression
    assert s.score == pytest.approx(score) and s.gap == pytest.approx(-score)


def test_l_floor_and_missing_classes() -> None:
    ref = _m(0.99, 20.0, 0.4)
    assert episode_score(_m(0.99, 10.0, 0.9), ref).beats  # L under the 1 ms floor is fine
    assert not episode_score(_m(0.99, 10.0, 1.2), ref).beats
    assert episode_score(_m(0.99, 10.0, None), _m(0.99, 20.0, None)).beats  # no L traffic
    assert episode_objective([(_m(0.986, 10.0, 1.5), REF), (_m(0.99, 20.0, 1.0), REF)]) == (
        pytest.approx(np.log(2) / 2)
    )
    with pytest.raises(ValueError):
        episode_objective([])


def test_metrics_proxy_from_intervals() -> None:
    rec = R.empty(100)
    rec["interval_ns"] = 16 * MS
    rec["t_ns"] = np.arange(1, 101) * 16 * MS
    rec["rate_kbps"] = 10_000
    rec["cls"][:, R.CLASS_C]["dep_bytes"] = 18000
    rec["cls"][:, R.CLASS_C]["dep_pkts"] = 12
    rec["cls"][:, R.CLASS_C]["sojourn_max_ns"] = np.arange(100) * MS
    m = metrics_from_intervals(rec, warmup_fraction=0.0)
    assert m["utilisation"] == pytest.approx(0.9)
    assert m["C"]["delay_p99_ms"] == pytest.approx(98.0)  # equal weights: the 99th of 100
    assert m["L"] == {}
