"""CoDel against RFC 8289."""

from __future__ import annotations

import math

import pytest
from algo_harness import MS, defaults, make_ctx, new_state, validates
from aqmllm.bridge._aqmcore import lib

PASS, DROP, MARK = lib.AQMLLM_ACT_PASS, lib.AQMLLM_ACT_DROP, lib.AQMLLM_ACT_MARK
STEP = MS // 10  # a head every 0.1 ms


def head(s, now: int, sojourn: int, ecn: int = 0, qlen: int = 50) -> int:
    return s.dequeue(make_ctx(now, sojourn=sojourn, ecn=ecn, qlen_pkts=(qlen, 0)))


def drop_times(s, until_ms: int, sojourn: int = 20 * MS, ecn: int = 0) -> list[int]:
    times = []
    for i in range(until_ms * 10):
        now = i * STEP
        if head(s, now, sojourn, ecn) != PASS:
            times.append(now)
    return times


def test_defaults_are_the_rfc_ones() -> None:
    p = new_state("codel").par
    assert (p.target_ns, p.interval_ns) == (5 * MS, 100 * MS)


def test_no_drop_before_a_full_interval_above_target() -> None:
    s = new_state("codel")
    times = drop_times(s, 150)
    assert times and times[0] == 100 * MS


def test_drop_spacing_follows_interval_over_sqrt_count() -> None:
    s = new_state("codel")
    times = drop_times(s, 600)
    gaps = [(b - a) / MS for a, b in zip(times, times[1:], strict=False)][:4]
    want = [100 / math.sqrt(n) for n in (1, 2, 3, 4)]
    assert gaps == pytest.approx(want, rel=0.01)


def test_leaves_dropping_state_below_target() -> None:
    s = new_state("codel")
    drop_times(s, 150)
    assert s.dropping == 1
    assert head(s, 200 * MS, 1 * MS) == PASS
    assert s.dropping == 0


def test_never_drops_with_at_most_one_mtu_left() -> None:
    s = new_state("codel")
    acts = {head(s, i * STEP, 50 * MS, qlen=1) for i in range(3000)}
    assert acts == {PASS}


def test_marks_ect_and_drops_not_ect() -> None:
    s = new_state("codel")
    assert {head(s, i * STEP, 20 * MS, ecn=1) for i in range(1500)} == {PASS, MARK}
    s = new_state("codel")
    assert {head(s, i * STEP, 20 * MS, ecn=0) for i in range(1500)} == {PASS, DROP}
    s = new_state("codel", ecn=0)
    assert {head(s, i * STEP, 20 * MS, ecn=1) for i in range(1500)} == {PASS, DROP}


def test_count_resumes_when_reentering_soon() -> None:
    s = new_state("codel")
    drop_times(s, 400)  # drops at 100, 200, 270.7, 328.4, 378.4: count climbs
    top = s.count
    assert top == 5
    head(s, 401 * MS, 1 * MS)  # congestion gone: leave dropping
    assert s.dropping == 0
    t = 405 * MS
    while head(s, t, 20 * MS) == PASS:  # back above target for an interval
        t += STEP
    assert s.count == top - 1  # delta = count - lastcount (lastcount was 1)
    assert s.drop_next_ns - t == pytest.approx(100 * MS / math.sqrt(top - 1), rel=1e-3)


def test_count_restarts_after_a_long_calm() -> None:
    s = new_state("codel")
    drop_times(s, 300)
    head(s, 301 * MS, 1 * MS)
    t = 301 * MS + 20 * 100 * MS  # more than 16 intervals later
    while head(s, t, 20 * MS) == PASS:
        t += STEP
    assert s.count == 1


def test_validate_rejects_nonsense() -> None:
    for field, bad in (("interval_ns", 0), ("target_ns", 0), ("target_ns", 200 * MS), ("mtu", 0)):
        par = defaults("codel")
        setattr(par.codel, field, bad)
        assert validates("codel", par) == lib.AQM_EINVAL, field
