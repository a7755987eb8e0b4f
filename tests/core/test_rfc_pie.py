"""PIE against RFC 8033."""

from __future__ import annotations

import pytest
from algo_harness import MS, ONE, defaults, make_ctx, new_state, prob, rng, validates
from aqmllm.bridge._aqmcore import lib

PASS, DROP, MARK = lib.AQMLLM_ACT_PASS, lib.AQMLLM_ACT_DROP, lib.AQMLLM_ACT_MARK
T = 15 * MS


def update(s, qdelay: int) -> None:
    s.tick(make_ctx(s.next_update_ns, qdelay=qdelay))


def test_defaults_are_the_rfc_ones() -> None:
    p = new_state("pie").par
    assert (p.target_ns, p.tupdate_ns, p.max_burst_ns) == (15 * MS, 15 * MS, 150 * MS)
    assert (p.alpha_q16 / 65536, p.beta_q16 / 65536) == (0.125, 1.25)
    assert prob(p.mark_ecn_th) == pytest.approx(0.1)


@pytest.mark.parametrize(
    ("p0", "scale"),
    [
        (0.05, 2),
        (0.005, 8),
        (0.0005, 32),
        (0.00005, 128),
        (0.000005, 512),
        (0.0000005, 2048),
        (0.15, 1),
    ],
)
def test_update_equation_with_auto_tuning(p0: float, scale: int) -> None:
    s = new_state("pie")
    s.p = int(p0 * ONE)
    s.qdelay_old_ns = 14 * MS
    update(s, 16 * MS)
    delta = (0.125 * 0.001 + 1.25 * 0.002) / scale
    assert prob(s.p) == pytest.approx(p0 + delta, rel=1e-4, abs=2 / ONE)


def test_increase_capped_at_two_percent_above_ten_percent() -> None:
    s = new_state("pie")
    s.p = int(0.5 * ONE)
    s.qdelay_old_ns = 0
    update(s, 100 * MS)
    assert prob(s.p) == pytest.approx(0.52, abs=1e-6)


def test_extra_two_percent_beyond_250_ms() -> None:
    s = new_state("pie")
    s.p = int(0.5 * ONE)
    s.qdelay_old_ns = 300 * MS
    update(s, 300 * MS)  # capped 2 % plus the high-delay 2 %
    assert prob(s.p) == pytest.approx(0.54, abs=1e-6)


def test_decay_when_the_queue_stays_empty() -> None:
    s = new_state("pie")
    s.p = int(0.5 * ONE)
    s.qdelay_old_ns = 0
    update(s, 0)
    assert prob(s.p) == pytest.approx((0.5 - 0.125 * 0.015) * 0.98, rel=1e-5)


def _congested(now: int, r, qdelay: int = 50 * MS, ecn: int = 0):
    return make_ctx(now, qdelay=qdelay, ecn=ecn, qlen_pkts=(100, 0), rng=r)


def test_burst_allowance_then_drops() -> None:
    s = new_state("pie", derand=0)
    s.p = int(0.3 * ONE)  # a controller already pushing hard
    s.qdelay_old_ns = 50 * MS
    r = rng(3)
    first_drop = None
    for t in range(1, 400):
        c = _congested(t * MS, r)
        s.tick(c)
        if s.enqueue(c) == DROP and first_drop is None:
            first_drop = t
    # allowance: 150 ms, spent 15 ms per update; the drops come right after
    assert first_drop is not None and 150 <= first_drop < 170


def test_burst_allowance_resets_after_calm() -> None:
    s = new_state("pie")
    s.burst_allowance_ns = 0
    s.p = 0
    s.qdelay_old_ns = 1 * MS
    update(s, 2 * MS)
    assert s.burst_allowance_ns == 150 * MS


def test_safeguards_block_drops() -> None:
    s = new_state("pie", derand=0)
    s.burst_allowance_ns = 0
    s.p = int(0.19 * ONE)
    s.qdelay_old_ns = 5 * MS  # below ref/2 and p < 20 %: no drop
    r = rng(5)
    assert all(s.enqueue(_congested(0, r)) == PASS for _ in range(500))
    s.p = ONE - 1
    s.qdelay_old_ns = 100 * MS
    tiny = make_ctx(0, qlen_pkts=(3, 0), rng=r)  # two packets ahead of this one
    assert all(s.enqueue(tiny) == PASS for _ in range(100))
    assert s.enqueue(_congested(0, r)) == DROP


def test_derandomisation_bounds_the_gaps() -> None:
    s = new_state("pie")
    s.burst_allowance_ns = 0
    s.p = int(0.1 * ONE)
    s.qdelay_old_ns = 100 * MS
    r = rng(11)
    gaps, since = [], 0
    for _ in range(20000):
        since += 1
        if s.enqueue(_congested(0, r)) != PASS:
            gaps.append(since)
            since = 0
    assert len(gaps) > 100
    assert min(gaps) >= 9 and max(gaps) <= 85


def test_mark_below_ten_percent_drop_above() -> None:
    s = new_state("pie", derand=0)
    s.burst_allowance_ns = 0
    s.qdelay_old_ns = 100 * MS
    r = rng(13)
    s.p = int(0.09 * ONE)
    ect = {s.enqueue(_congested(0, r, ecn=1)) for _ in range(2000)}
    not_ect = {s.enqueue(_congested(0, r, ecn=0)) for _ in range(2000)}
    assert ect == {PASS, MARK} and not_ect == {PASS, DROP}
    s.p = int(0.3 * ONE)
    ect = {s.enqueue(_congested(0, r, ecn=1)) for _ in range(500)}
    assert ect == {PASS, DROP}


def test_validate_rejects_nonsense() -> None:
    for field, bad in (
        ("tupdate_ns", 0),
        ("target_ns", 0),
        ("mtu", 0),
        ("beta_q16", 2**24),
        ("ecn", 2),
    ):
        par = defaults("pie")
        setattr(par.pie, field, bad)
        assert validates("pie", par) == lib.AQM_EINVAL, field
