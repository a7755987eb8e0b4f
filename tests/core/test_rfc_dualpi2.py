"""DualPI2 against RFC 9332 (and the Linux defaults it names)."""

from __future__ import annotations

import math

import pytest
from algo_harness import MS, ONE, defaults, make_ctx, new_state, prob, rng, validates
from aqmllm.bridge._aqmcore import lib

PASS, DROP, MARK = lib.AQMLLM_ACT_PASS, lib.AQMLLM_ACT_DROP, lib.AQMLLM_ACT_MARK
L, C = lib.AQMLLM_CLASS_L, lib.AQMLLM_CLASS_C
TUPDATE = 16 * MS


def tick(s, now: int, qdelay: int) -> None:
    s.tick(make_ctx(now, qdelay=qdelay))


def test_defaults_are_the_rfc_and_linux_ones() -> None:
    s = new_state("dualpi2")
    p = s.par
    assert (p.target_ns, p.tupdate_ns, p.step_ns) == (15 * MS, 16 * MS, 1 * MS)
    assert p.alpha_q16 / 65536 == pytest.approx(0.16, abs=1e-4)
    assert p.beta_q16 / 65536 == pytest.approx(3.2, abs=1e-4)
    assert (p.k, p.wc_pct, p.drop_on_overload) == (2, 10, 1)


def test_pi_update_follows_the_equation() -> None:
    s = new_state("dualpi2")
    # First update: qdelay 30 ms against target 15 ms and qdelay_old 0.
    tick(s, TUPDATE, 30 * MS)
    expected = 0.16 * 0.015 + 3.2 * 0.030
    assert prob(s.p_prime) == pytest.approx(expected, rel=1e-3)
    # Steady 30 ms: only the integral term acts.
    tick(s, 2 * TUPDATE, 30 * MS)
    assert prob(s.p_prime) == pytest.approx(expected + 0.16 * 0.015, rel=1e-3)


def test_p_holds_at_target_and_falls_below_it() -> None:
    s = new_state("dualpi2")
    tick(s, TUPDATE, 15 * MS)
    at_target = s.p_prime  # only the proportional kick of 0 -> 15 ms
    tick(s, 2 * TUPDATE, 15 * MS)
    assert s.p_prime == at_target
    tick(s, 3 * TUPDATE, 5 * MS)
    assert s.p_prime < at_target


def test_p_stays_within_zero_and_one() -> None:
    s = new_state("dualpi2")
    for i in range(1, 200):
        tick(s, i * TUPDATE, 4000 * MS)
    assert s.p_prime == ONE - 1
    for i in range(200, 400):
        tick(s, i * TUPDATE, 0)
    assert s.p_prime == 0


def test_lazy_catch_up_runs_one_update_per_interval() -> None:
    a, b = new_state("dualpi2"), new_state("dualpi2")
    for i in range(1, 6):
        tick(a, i * TUPDATE, 20 * MS)
    tick(b, 5 * TUPDATE + 1, 20 * MS)  # five boundaries passed at once
    assert a.p_prime == b.p_prime


def test_coupling_pcl_is_k_times_p_and_pc_is_p_squared() -> None:
    s = new_state("dualpi2")
    s.p_prime = int(0.2 * ONE)
    assert prob(s.prob(L)) == pytest.approx(0.4, rel=1e-6)
    assert prob(s.prob(C)) == pytest.approx(0.04, rel=1e-6)
    assert s.overloaded() == 0


def _rate(s, n: int, **ctx) -> float:
    r = rng(99)
    hits = 0
    for i in range(n):
        c = make_ctx(i, rng=r, **ctx)
        hits += s.dequeue(c) != PASS
    return hits / n


@pytest.mark.parametrize("p", [0.05, 0.2, 0.4])
def test_signal_rates_match_pcl_and_pc_statistically(p: float) -> None:
    s = new_state("dualpi2")
    s.next_update_ns = 2**62  # freeze the controller
    s.p_prime = int(p * ONE)
    n = 20000
    l_rate = _rate(s, n, ecn=1, cls=L, qlen_pkts=(5, 5), sojourn=0)
    c_rate = _rate(s, n, ecn=2, cls=C, qlen_pkts=(5, 5))
    for rate, want in ((l_rate, min(1.0, 2 * p)), (c_rate, p * p)):
        sigma = math.sqrt(want * (1 - want) / n)
        assert abs(rate - want) < 5 * sigma + 1e-9, (rate, want)


def test_l4s_step_at_one_millisecond() -> None:
    s = new_state("dualpi2")
    assert s.p_prime == 0
    below = make_ctx(0, ecn=1, cls=L, sojourn=999_999, qlen_pkts=(0, 3))
    at = make_ctx(0, ecn=1, cls=L, sojourn=1_000_000, qlen_pkts=(0, 3))
    assert s.dequeue(below) == PASS
    assert s.dequeue(at) == MARK
    assert s.step_marks == 1


def test_classic_marks_ect0_and_drops_not_ect() -> None:
    s = new_state("dualpi2")
    s.next_update_ns = 2**62
    s.p_prime = ONE // 2 - 1  # just below overload (k p' < 1)
    seen = {}
    for ecn in (0, 2):
        acts = {s.dequeue(make_ctx(i, ecn=ecn, cls=C, rng=rng(i))) for i in range(200)}
        seen[ecn] = acts
    assert seen[0] == {PASS, DROP}
    assert seen[2] == {PASS, MARK}


def test_overload_drops_classic_ecn_and_l4s_with_pc() -> None:
    s = new_state("dualpi2")
    s.next_update_ns = 2**62
    s.p_prime = int(0.7 * ONE)  # k p' = 1.4 > 1
    assert s.overloaded() == 1
    l_acts = [
        s.dequeue(make_ctx(i, ecn=1, cls=L, qlen_pkts=(5, 5), rng=rng(i))) for i in range(400)
    ]
    c_acts = [s.dequeue(make_ctx(i, ecn=2, cls=C, rng=rng(i + 7))) for i in range(400)]
    assert set(l_acts) == {DROP, MARK}  # survivors all marked
    assert l_acts.count(DROP) / 400 == pytest.approx(0.49, abs=0.08)
    assert MARK not in c_acts and DROP in c_acts
    s.par.drop_on_overload = 0
    l_acts = [s.dequeue(make_ctx(i, ecn=1, cls=L, qlen_pkts=(5, 5), rng=rng(i))) for i in range(50)]
    assert set(l_acts) == {MARK}


def test_no_signal_below_two_packets_of_backlog() -> None:
    s = new_state("dualpi2")
    s.next_update_ns = 2**62
    s.p_prime = ONE // 2
    c = make_ctx(0, ecn=0, cls=C, qlen_pkts=(1, 0))
    assert all(s.dequeue(c) == PASS for _ in range(100))


def test_scheduler_gives_classic_its_protected_share() -> None:
    s = new_state("dualpi2")
    served = {L: 0, C: 0}
    for _ in range(10000):
        cls = s.select(1, 1, 1500, 1500)
        served[cls] += 1
    assert served[C] / 10000 == pytest.approx(0.10, abs=0.01)
    # Work conserving: an empty class is never chosen.
    assert s.select(0, 1, 0, 1500) == C
    assert s.select(1, 0, 1500, 0) == L
    assert s.select(0, 0, 0, 0) == -1


def test_validate_rejects_nonsense() -> None:
    for field, bad in (
        ("k", 0),
        ("tupdate_ns", 0),
        ("wc_pct", 101),
        ("mtu", 0),
        ("alpha_q16", 2**24),
    ):
        par = defaults("dualpi2")
        setattr(par.dualpi2, field, bad)
        assert validates("dualpi2", par) == lib.AQM_EINVAL, field
