"""The interval tier in the core: interval records that account for every
packet, residuals that are exactly the fallback when zero or expired,
bounded and counted when hostile, and that act as documented when set."""

from __future__ import annotations

import pytest
from aqmllm.bridge._aqmcore import ffi, lib
from interval_trace import hostile_daemon, run, withdrawn_daemon, zero_daemon
from ring_harness import MS, Harness

AQMS = {"dualpi2": lib.AQMLLM_FB_DUALPI2, "pie": lib.AQMLLM_FB_PIE, "codel": lib.AQMLLM_FB_CODEL}
NOT_ECT, ECT1, ECT0 = lib.AQMLLM_ECN_NOT_ECT, lib.AQMLLM_ECN_ECT1, lib.AQMLLM_ECN_ECT0
Q8 = lib.AQMLLM_RES_Q8_ONE


@pytest.fixture(scope="module")
def bare() -> dict:
    return {name: run(fb, bare=True) for name, fb in AQMS.items()}


def _same(a, b) -> None:
    assert len(a.decisions) == len(b.decisions)
    pairs = enumerate(zip(a.decisions, b.decisions, strict=True))
    first = next((i for i, (x, y) in pairs if x != y), None)
    assert first is None, f"decision {first} differs: {a.decisions[first]} vs {b.decisions[first]}"
    assert a.fb_state == b.fb_state and a.rng_state == b.rng_state


@pytest.mark.parametrize("aqm", list(AQMS))
def test_the_trace_exercises_the_aqm(bare: dict, aqm: str) -> None:
    acts = [act for _, act, _ in bare[aqm].decisions]
    assert len(acts) > 50_000
    signals = acts.count(lib.AQMLLM_ACT_DROP) + acts.count(lib.AQMLLM_ACT_MARK)
    assert signals > 100, "a trace without signals proves nothing"


@pytest.mark.parametrize("aqm", list(AQMS))
def test_zero_residual_is_bit_identical_to_the_bare_fallback(bare: dict, aqm: str) -> None:
    out = run(AQMS[aqm], daemon=zero_daemon)
    _same(bare[aqm], out)
    h = out.harness
    assert h.counter("res_accepted") > 1000  # one per interval: ~20 s / 16 ms
    assert h.counter("res_rej_seq") + h.counter("res_rej_stale") == 0


@pytest.mark.parametrize("aqm", list(AQMS))
def test_expired_residual_is_bit_identical_to_the_bare_fallback(bare: dict, aqm: str) -> None:
    out = run(AQMS[aqm], daemon=withdrawn_daemon)
    _same(bare[aqm], out)
    assert out.harness.counter("res_accepted") > 1000


@pytest.mark.parametrize("aqm", list(AQMS))
def test_rejected_residuals_change_nothing_and_are_counted(bare: dict, aqm: str) -> None:
    out = run(AQMS[aqm], daemon=hostile_daemon)
    _same(bare[aqm], out)
    h = out.harness
    for name in ("res_rej_queue", "res_rej_seq", "res_rej_field", "res_rej_stale"):
        assert h.counter(name) > 1000, name
    assert h.counter("res_rej_queue") > 2 * 1000  # two lies per interval
    assert h.counter("rej_kind") == 0  # residual faults are counted as such


@pytest.mark.parametrize("aqm", list(AQMS))
def test_interval_records_account_for_every_packet(aqm: str) -> None:
    out = run(AQMS[aqm], daemon=zero_daemon, keep_intervals=True, seconds=8.0)
    recs = [iv for iv in out.intervals if iv.queue_id == 0]
    q = out.harness.queues[0]
    assert len(recs) > 400
    prev_backlog = {0: 0, 1: 0}
    prev_t = None
    sums = {k: {"arr": 0, "dep": 0, "drop": 0, "mark": 0, "limit": 0} for k in (0, 1)}
    for iv in recs:
        assert iv.fb_id == AQMS[aqm] and iv.flags & lib.AQMLLM_IF_AFTER_LOSS == 0
        if prev_t is not None:  # consecutive records tile time
            assert iv.t_ns - iv.interval_ns == prev_t
        prev_t = iv.t_ns
        assert iv.busy_ns <= iv.interval_ns
        for k in (0, 1):
            c = iv.cls[k]
            drops = c.drop_enq + c.drop_deq + c.drop_limit
            assert c.arr_pkts == c.dep_pkts + drops + c.backlog_pkts - prev_backlog[k]
            assert sum(c.ecn) == c.arr_pkts
            assert c.sojourn_max_ns >= c.sojourn_mean_ns
            prev_backlog[k] = c.backlog_pkts
            sums[k]["arr"] += c.arr_pkts
            sums[k]["dep"] += c.dep_pkts
            sums[k]["drop"] += c.drop_enq + c.drop_deq
            sums[k]["limit"] += c.drop_limit
            sums[k]["mark"] += c.marks
    # The records and the open interval hold every packet the driver saw.
    for k in (0, 1):
        a = q.acc[k]
        seen = out.per_class[k]
        assert sums[k]["arr"] + a.arr_pkts == seen["arr"]
        assert sums[k]["dep"] + a.dep_pkts == seen["dep"]
        assert sums[k]["drop"] + a.drop_enq + a.drop_deq == seen["drop"]
        assert sums[k]["limit"] + a.drop_limit == seen["limit"]
        assert sums[k]["mark"] + a.marks == seen["mark"]
    assert sum(iv.cls[1].marks for iv in recs) > 0
    assert any(iv.busy_ns < iv.interval_ns for iv in recs)  # it idled sometimes


# ---- single residuals, by hand ----


def _loaded(fb: int, n: int = 20) -> Harness:
    """A queue with a standing backlog and a controller that has moved."""
    h = Harness(fb=fb, limit=1000)
    h.attach()
    assert lib.aqm_ring_set_export(h.ring, lib.AQMLLM_EXPORT_INTERVALS, 0) == 0
    for i in range(n):
        h.enqueue((ECT1, ECT0, NOT_ECT)[i % 3])
    for _ in range(640):  # 40 updates with ~n ms of head sojourn
        h.now += MS
        h.heartbeat()
        h.enqueue(ECT0)
        h.dequeue()
    return h


def _answer(h: Harness, **knobs) -> None:
    """A residual for the newest interval record, taken at the next call."""
    h.residual(h.ring.ivl_prod, 0, **knobs)
    h.now += 100_000
    h.heartbeat()
    h.dequeue()  # drains the verdict
    h.enqueue(ECT0)  # takes it


def _state(h: Harness) -> tuple[list[int], int]:
    st = ffi.new("uint32_t[3]")
    tgt = ffi.new("uint64_t *")
    q = h.queues[0]
    q.alg.interval_state(ffi.addressof(q, "fb"), st, tgt)
    return list(st), int(tgt[0])


def test_dualpi2_multipliers_scale_p_prime_before_squaring_and_coupling() -> None:
    h = _loaded(lib.AQMLLM_FB_DUALPI2)
    (p, p_c, p_cl), target = _state(h)
    assert 0 < p < 2**29 and target == 15 * MS
    _answer(h, mult_c=Q8, mult_l=-Q8)
    (p2, p_c2, p_cl2), _ = _state(h)
    assert p2 == p  # the integrator itself is untouched
    assert p_c2 == ((2 * p) * (2 * p)) >> 32  # (2 p')^2
    assert p_cl2 == 2 * ((p * (1 << 23)) >> 24)  # k * (p'/2)
    assert p_c2 > 3.9 * p_c and abs(p_cl2 - p_cl / 2) <= 2
    res = ffi.new("struct aqm_residual *")
    lib.aqm_queue_residual(h.queues[0], res)
    assert list(res.log2_mult) == [Q8, -Q8] and h.queues[0].res_on


def test_dualpi2_step_and_target_scale() -> None:
    h = _loaded(lib.AQMLLM_FB_DUALPI2)
    _answer(h, step_us=2000, target=-Q8)
    q = h.queues[0]
    assert q.fb.dualpi2.step_ns == 2 * MS and q.fb.dualpi2.target_ns == 15 * MS // 2
    h.now += 16 * MS + 1
    h.heartbeat()
    h.enqueue(ECT0)  # closes the interval
    iv = h.intervals()[-1]
    assert iv.target_ns == 15 * MS // 2 and iv.res_step_us == 2000 and iv.res_log2_target == -Q8
    assert iv.flags & lib.AQMLLM_IF_RESIDUAL


def test_pie_scales_p_per_class_and_ignores_the_step() -> None:
    h = _loaded(lib.AQMLLM_FB_PIE)
    (p, _, _), _ = _state(h)
    assert p > 0
    _answer(h, mult_c=2 * Q8, mult_l=-3 * Q8, step_us=500, target=Q8)
    (p2, p_c, p_l), target = _state(h)
    assert p2 == p and p_c == min(4 * p, 2**32 - 1) and p_l == p >> 3
    assert target == 30 * MS
    assert h.counter("res_ignored") == 1
    res = ffi.new("struct aqm_residual *")
    lib.aqm_queue_residual(h.queues[0], res)
    assert res.step_us == 0  # what is in effect is what PIE uses


def test_codel_scales_target_and_interval_together_and_ignores_multipliers() -> None:
    h = _loaded(lib.AQMLLM_FB_CODEL)
    _answer(h, mult_c=Q8, target=-2 * Q8)
    c = h.queues[0].fb.codel
    assert c.target_ns == 5 * MS // 4 and c.interval_ns == 100 * MS // 4
    assert h.counter("res_ignored") == 1
    h2 = _loaded(lib.AQMLLM_FB_CODEL)
    _answer(h2, mult_c=Q8, mult_l=Q8)  # nothing CoDel can use: the bare fallback
    assert not h2.queues[0].res_on and h2.counter("res_ignored") == 1


@pytest.mark.parametrize(
    ("knobs", "counter", "field", "value"),
    [
        ({"mult_c": 32767}, "res_clamp_mult_c", "log2_mult", [768, 0]),
        ({"mult_c": -32768}, "res_clamp_mult_c", "log2_mult", [-768, 0]),
        ({"mult_l": 769}, "res_clamp_mult_l", "log2_mult", [0, 768]),
        ({"target": 257}, "res_clamp_target", "log2_target", 256),
        ({"target": -20000}, "res_clamp_target", "log2_target", -512),
        ({"step_us": 1}, "res_clamp_step", "step_us", 250),
        ({"step_us": 65535}, "res_clamp_step", "step_us", 4000),
    ],
)
def test_hostile_values_are_clamped_and_counted(knobs, counter, field, value) -> None:
    h = _loaded(lib.AQMLLM_FB_DUALPI2)
    _answer(h, **knobs)
    res = ffi.new("struct aqm_residual *")
    lib.aqm_queue_residual(h.queues[0], res)
    got = list(getattr(res, field)) if field == "log2_mult" else getattr(res, field)
    assert got == value
    assert h.counter(counter) == 1 and h.counter("res_accepted") == 1


def test_an_expiry_too_far_ahead_is_clamped_to_the_maximum_lifetime() -> None:
    h = _loaded(lib.AQMLLM_FB_DUALPI2)
    _answer(h, mult_c=Q8, expiry_ns=h.now + 3600 * 10**9)
    q = h.queues[0]
    assert h.counter("res_clamp_expiry") == 1
    assert q.res_expiry_ns <= h.now + lib.AQMLLM_RES_MAX_TTL_NS


def test_a_residual_ends_at_its_expiry_and_the_record_says_so() -> None:
    h = _loaded(lib.AQMLLM_FB_DUALPI2)
    _answer(h, mult_c=Q8, ttl_ns=5 * MS)
    q = h.queues[0]
    assert q.res_on
    h.now += 6 * MS
    h.heartbeat()
    h.enqueue(ECT0)
    assert not q.res_on and q.fb.dualpi2.mult_q24[0] == 0
    assert h.counter("res_expired") == 1
    h.now += 16 * MS
    h.enqueue(ECT0)
    iv = h.intervals()[-1]
    assert iv.flags & lib.AQMLLM_IF_RES_ENDED and not iv.flags & lib.AQMLLM_IF_RESIDUAL
    assert list(iv.res_log2_mult) == [0, 0]


def test_a_dead_daemon_or_a_detach_ends_the_residual() -> None:
    h = _loaded(lib.AQMLLM_FB_DUALPI2)
    _answer(h, mult_c=Q8, ttl_ns=900 * MS)
    h.now += 50 * MS  # no heartbeat: older than verdict_timeout (10 ms)
    h.enqueue(ECT0)
    assert not h.queues[0].res_on and h.counter("res_expired") == 1
    h2 = _loaded(lib.AQMLLM_FB_DUALPI2)
    _answer(h2, mult_l=Q8, ttl_ns=900 * MS)
    lib.aqm_ring_set_attached(h2.ring, 0)
    h2.enqueue(ECT0)
    assert not h2.queues[0].res_on


def test_an_idle_queue_writes_one_record_for_the_gap() -> None:
    h = Harness(fb=lib.AQMLLM_FB_DUALPI2)
    h.attach()
    h.enqueue(ECT1)
    h.dequeue()
    h.now += 16 * MS
    h.heartbeat()
    h.enqueue(ECT1)  # closes the first interval
    h.now += 200 * MS  # twelve idle intervals and a bit
    h.heartbeat()
    h.enqueue(ECT1)
    ivs = h.intervals()
    assert len(ivs) == 2
    gap = ivs[1]
    assert gap.flags & lib.AQMLLM_IF_GAP and gap.interval_ns == 12 * 16 * MS
    assert gap.t_ns - gap.interval_ns == ivs[0].t_ns and gap.cls[1].arr_pkts == 1


def test_a_record_after_one_not_exported_says_so() -> None:
    h = Harness(fb=lib.AQMLLM_FB_DUALPI2)
    h.enqueue(ECT1)  # no daemon: the first interval is not exported
    h.now += 16 * MS
    h.enqueue(ECT1)
    h.attach()
    h.now += 16 * MS
    h.enqueue(ECT1)
    ivs = h.intervals()
    assert len(ivs) == 1 and ivs[0].flags & lib.AQMLLM_IF_AFTER_LOSS
    assert ivs[0].cls[1].arr_pkts == 1 and ivs[0].cls[1].backlog_pkts == 2


def test_export_mode_and_interval_length() -> None:
    h = Harness(fb=lib.AQMLLM_FB_DUALPI2)
    assert lib.aqm_ring_set_export(h.ring, 0, 0) == lib.AQM_EINVAL
    assert lib.aqm_ring_set_export(h.ring, 4, 0) == lib.AQM_EINVAL
    assert lib.aqm_ring_set_export(h.ring, 2, 999_999) == lib.AQM_EINVAL
    assert lib.aqm_ring_set_export(h.ring, 2, 1_000_000_001) == lib.AQM_EINVAL
    assert lib.aqm_ring_set_export(h.ring, lib.AQMLLM_EXPORT_PACKETS, 5 * MS) == 0
    assert h.hdr.export_mode == lib.AQMLLM_EXPORT_PACKETS and h.hdr.interval_ns == 5 * MS
    h.attach()
    h.enqueue(ECT1)
    assert h.hdr.rec_prod == 1
    h.now += 16 * MS
    h.enqueue(ECT1)  # the first interval (its fallback's 16 ms) closes unexported
    assert h.ring.ivl_prod == 0 and h.hdr.rec_prod == 2
    assert lib.aqm_ring_set_export(h.ring, lib.AQMLLM_EXPORT_INTERVALS, 5 * MS) == 0
    h.now += 5 * MS
    h.enqueue(ECT1)  # the next one is 5 ms long, exported; no packet record
    ivs = h.intervals()
    assert len(ivs) == 1 and ivs[0].interval_ns == 5 * MS and h.hdr.rec_prod == 2
