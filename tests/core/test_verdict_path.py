"""Record production, verdict precedence, guardrails and the rejection of
everything a daemon can get wrong, driven through the real C core."""

from __future__ import annotations

import pytest
from aqmllm.bridge._aqmcore import lib
from ring_harness import MS, Harness

PASS, DROP, MARK = lib.AQMLLM_ACT_PASS, lib.AQMLLM_ACT_DROP, lib.AQMLLM_ACT_MARK
NOT_ECT, ECT1, ECT0, CE = (
    lib.AQMLLM_ECN_NOT_ECT,
    lib.AQMLLM_ECN_ECT1,
    lib.AQMLLM_ECN_ECT0,
    lib.AQMLLM_ECN_CE,
)
SRC_VERDICT, SRC_POLICY, SRC_FALLBACK = (
    lib.AQM_SRC_VERDICT,
    lib.AQM_SRC_POLICY,
    lib.AQM_SRC_FALLBACK,
)


@pytest.fixture
def h() -> Harness:
    return Harness()


def test_no_records_without_a_daemon(h: Harness) -> None:
    act, p = h.enqueue(ECT1)
    assert act == PASS and p.seq == 0
    assert h.hdr.rec_prod == 0 and h.counter("records") == 0


def test_record_carries_packet_and_queue_state(h: Harness) -> None:
    h.attach()
    h.enqueue(NOT_ECT, 1000)
    h.now += 2 * MS
    act, p = h.enqueue(ECT1, 1200, flow=0xBEEF)
    assert act == PASS and p.seq == 2 and h.hdr.rec_prod == 2
    r = h.record(2)
    assert r.seq == 2 and r.t_ns == h.now and r.queue_id == 0
    assert r.flow_hash == 0xBEEF and r.pkt_len == 1200 and r.ecn == ECT1
    assert r.cls == lib.AQMLLM_CLASS_L and r.qlen_pkts == 1 and r.qlen_bytes == 1200
    assert r.other_qlen_pkts == 1 and r.fb_id == lib.AQMLLM_FB_DUALPI2
    # DualPI2 gives L priority: only L bytes are ahead of an L packet.
    assert r.est_wait_ns == 1200 * 8 * 1_000_000_000 // h.rate_bps
    c = h.record(1)
    assert c.cls == lib.AQMLLM_CLASS_C and c.ecn == NOT_ECT


@pytest.mark.parametrize(
    ("ecn", "cls"),
    [(NOT_ECT, 0), (ECT0, 0), (ECT1, 1), (CE, 1)],
)
def test_classification_by_ecn_codepoint(h: Harness, ecn: int, cls: int) -> None:
    _, p = h.enqueue(ecn)
    assert p.cls == cls


def test_ring_full_counts_overflow_and_keeps_the_packet() -> None:
    h = Harness(rec_entries=64)
    h.attach()
    for _ in range(70):
        act, _ = h.enqueue(ECT0)
        assert act == PASS
    assert h.counter("records") == 64 and h.counter("overflows") == 6
    assert h.queues[0].qlen_pkts[0] == 70
    _, p = h.enqueue(ECT0)
    assert p.seq == 0  # no record, so only the fallback can decide it
    h.hdr.rec_cons = 10  # the daemon consumed ten: room again
    _, p = h.enqueue(ECT0)
    assert p.seq == 65


def test_verdict_beats_policy_and_fallback(h: Harness) -> None:
    h.attach()
    for _ in range(4):
        h.enqueue(NOT_ECT)
    h.policy(0, drop=1.0, mark=0.0, ttl_ns=100 * MS)
    h.write_verdict(seq=1, action=PASS)
    act, p = h.dequeue()
    assert (act, p.src) == (PASS, SRC_VERDICT)
    act, p = h.dequeue()  # no verdict for seq 2: the policy decides
    assert (act, p.src) == (DROP, SRC_POLICY)
    assert h.counter("src_verdict") == 1 and h.counter("src_policy") == 1


def test_expired_policy_leaves_the_fallback(h: Harness) -> None:
    h.attach()
    for _ in range(3):
        h.enqueue(NOT_ECT)
    h.policy(0, drop=1.0, mark=0.0, ttl_ns=1 * MS)
    h.now += 2 * MS
    h.heartbeat()
    act, p = h.dequeue()
    assert (act, p.src) == (PASS, SRC_FALLBACK)


def test_policy_marks_ect_and_drops_not_ect(h: Harness) -> None:
    h.attach()
    h.policy(0, drop=1.0, mark=1.0, ttl_ns=100 * MS)
    for ecn in (ECT1, ECT1, NOT_ECT, NOT_ECT, NOT_ECT):
        h.enqueue(ecn)
    results = [h.dequeue() for _ in range(5)]
    by_ecn = {(p.ecn, a) for a, p in results}
    assert (ECT1, MARK) in by_ecn and (NOT_ECT, DROP) in by_ecn
    assert all(p.src == SRC_POLICY for _, p in results)


def test_stale_heartbeat_falls_back(h: Harness) -> None:
    h.attach()
    for _ in range(3):
        h.enqueue(NOT_ECT)
    h.write_verdict(seq=1, action=DROP)
    h.now += 50 * MS  # beyond verdict_timeout with no heartbeat echo
    act, p = h.dequeue()
    assert p.src == SRC_FALLBACK and act == PASS
    assert h.counter("stale_daemon") == 1


@pytest.mark.parametrize("ahead_ns", [1, 50 * MS, 2**63])
def test_a_heartbeat_ahead_of_the_producer_clock_is_not_alive(h: Harness, ahead_ns: int) -> None:
    """The daemon echoes the producer's clock; a heartbeat the producer has
    not reached yet was invented, and must not keep the daemon alive."""
    h.attach()
    for _ in range(6):
        h.enqueue(NOT_ECT)
    h.write_verdict(seq=1, action=DROP)
    h.now += 1 * MS  # past the liveness cache, well inside verdict_timeout
    h.hdr.heartbeat_ns = h.now + ahead_ns
    act, p = h.dequeue()
    assert p.src == SRC_FALLBACK and act == PASS
    assert h.counter("stale_daemon") == 1
    # Far later, the same future value is still refused (no "alive forever"),
    # and an honest echo of the producer's clock is believed again at once.
    h.now += 40 * MS
    h.hdr.heartbeat_ns = h.now + ahead_ns
    _, p = h.dequeue()
    assert p.src == SRC_FALLBACK
    h.heartbeat()
    h.write_verdict(seq=3, action=DROP)
    h.now += 1 * MS  # past the liveness cache
    h.heartbeat()
    act, p = h.dequeue()
    assert (act, p.src) == (DROP, SRC_VERDICT)


def test_a_heartbeat_equal_to_now_is_alive(h: Harness) -> None:
    h.attach()
    for _ in range(2):
        h.enqueue(NOT_ECT)
    h.write_verdict(seq=1, action=DROP)
    h.heartbeat()  # exactly the producer's now
    act, p = h.dequeue()
    assert (act, p.src) == (DROP, SRC_VERDICT)


def test_detach_cancels_policies_at_once(h: Harness) -> None:
    h.attach()
    for _ in range(3):
        h.enqueue(NOT_ECT)
    h.policy(0, drop=1.0, mark=0.0, ttl_ns=1000 * MS)
    h.dequeue()
    lib.aqm_ring_set_attached(h.ring, 0)
    assert h.ring.pol[0].expiry_ns == 0
    act, p = h.dequeue()
    assert (act, p.src) == (PASS, SRC_FALLBACK)


def test_mark_on_not_ect_is_never_a_mark(h: Harness) -> None:
    h.attach()
    for _ in range(3):
        h.enqueue(NOT_ECT)
    h.write_verdict(seq=1, action=MARK)
    act, p = h.dequeue()
    assert (act, p.src) == (PASS, SRC_VERDICT)
    assert h.counter("mark_not_ect") == 1


def test_guard_no_drop_below_minimum_backlog(h: Harness) -> None:
    h.attach()
    h.enqueue(NOT_ECT)
    h.write_verdict(seq=1, action=DROP)
    act, _ = h.dequeue()
    assert act == PASS and h.counter("guard_minq") == 1


def test_guard_marks_ecn_capable_instead_of_dropping(h: Harness) -> None:
    h.attach()
    for ecn in (ECT0, NOT_ECT, NOT_ECT):
        h.enqueue(ecn)
    h.write_verdict(seq=1, action=DROP)
    h.write_verdict(seq=2, action=DROP)
    assert h.dequeue()[0] == MARK and h.counter("guard_ecn") == 1
    assert h.dequeue()[0] == DROP  # Not-ECT with a backlog: the drop stands


@pytest.mark.parametrize(
    ("fields", "counter"),
    [
        ({"seq": 1, "action": 0}, "rej_action"),
        ({"seq": 1, "action": 9}, "rej_action"),
        ({"seq": 1, "action": PASS, "kind": 7}, "rej_kind"),
        ({"seq": 1, "action": PASS, "flags": 1}, "rej_kind"),
        ({"seq": 0, "action": PASS}, "rej_seq"),
        ({"seq": 99, "action": PASS}, "rej_seq"),
        ({"kind": 2, "queue_id": 5, "expiry_ns": 1}, "rej_policy"),
        ({"kind": 2, "queue_id": 0, "expiry_ns": 2**63}, "rej_policy"),
        ({"kind": 2, "queue_id": 0, "action": 1, "expiry_ns": 1}, "rej_policy"),
    ],
)
def test_bad_verdicts_are_rejected_and_counted(h: Harness, fields: dict, counter: str) -> None:
    h.attach()
    for _ in range(3):
        h.enqueue(NOT_ECT)
    h.write_verdict(**fields)
    act, p = h.dequeue()
    assert h.counter(counter) == 1
    assert p.src == SRC_FALLBACK and act == PASS
    assert h.counter("verdicts_in") == 0


def test_duplicate_and_late_verdicts(h: Harness) -> None:
    h.attach()
    for _ in range(3):
        h.enqueue(NOT_ECT)
    h.write_verdict(seq=2, action=PASS)
    h.write_verdict(seq=2, action=DROP)  # a second answer for seq 2
    h.dequeue()
    assert h.counter("rej_dup") == 1
    h.write_verdict(seq=1, action=DROP)  # seq 1 has already left
    h.now += 100_000  # seq 2 is decided: the ring is read on the next drain period
    h.heartbeat()
    h.dequeue()
    assert h.counter("rej_late") == 1


def test_stale_seq_from_a_reused_slot_is_rejected() -> None:
    h = Harness(rec_entries=64)
    h.attach()
    for i in range(130):
        h.enqueue(NOT_ECT)
        if i % 8 == 0:
            h.hdr.rec_cons = h.hdr.rec_prod
    h.write_verdict(seq=2, action=DROP)  # slot long since reused
    h.dequeue()
    assert h.counter("rej_seq") == 1


def test_garbage_indices_are_survived(h: Harness) -> None:
    h.attach()
    for _ in range(3):
        h.enqueue(NOT_ECT)
    h.hdr.vd_prod = 2**63 + 5  # far beyond the ring
    act, p = h.dequeue()
    assert act == PASS and p.src == SRC_FALLBACK
    assert h.counter("rej_index") == 1
    assert h.hdr.vd_cons == 2**63 + 5  # resynchronised, not replayed


def test_garbage_consumer_index_stops_records_not_packets() -> None:
    h = Harness(rec_entries=64)
    h.attach()
    for _ in range(64):
        h.enqueue(NOT_ECT)
    # The cached consumer index says full, so the producer re-reads it:
    # a consumer ahead of the producer is garbage.
    h.hdr.rec_cons = h.hdr.rec_prod + 7
    act, p = h.enqueue(NOT_ECT)
    assert act == PASS and p.seq == 0
    assert h.counter("rej_index") == 1 and h.counter("overflows") == 1
    h.hdr.rec_cons = h.hdr.rec_prod  # sane again: records resume
    _, p = h.enqueue(NOT_ECT)
    assert p.seq == 65


def test_drain_is_bounded_per_call(h: Harness) -> None:
    h.attach()
    h.ring.drain_budget = 4
    for _ in range(10):
        h.enqueue(NOT_ECT)
    for s in range(1, 11):
        h.write_verdict(seq=s, action=PASS)
    h.dequeue()
    assert h.hdr.vd_cons == 4 and h.counter("verdicts_in") == 4


def test_wakeups_are_batched(h: Harness) -> None:
    h.attach()
    assert lib.aqm_ring_configure(h.ring, 16, 10 * MS) == 0
    h.enqueue(NOT_ECT)
    assert lib.aqm_ring_take_wakeup(h.ring) == 1  # empty -> non-empty
    for _ in range(14):
        h.enqueue(NOT_ECT)
    assert lib.aqm_ring_take_wakeup(h.ring) == 0
    h.enqueue(NOT_ECT)
    h.enqueue(NOT_ECT)
    assert lib.aqm_ring_take_wakeup(h.ring) == 1  # a full batch
    assert lib.aqm_ring_configure(h.ring, 0, 10 * MS) == lib.AQM_EINVAL


def test_tail_drop_at_the_limit() -> None:
    h = Harness(limit=5)
    for _ in range(5):
        assert h.enqueue(NOT_ECT)[0] == PASS
    act, p = h.enqueue(ECT1)
    assert act == DROP and p.src == lib.AQM_SRC_LIMIT
    assert h.queues[0].tail_drops == 1


def test_counters_are_mirrored_for_display(h: Harness) -> None:
    h.attach()
    h.enqueue(NOT_ECT)
    h.hdr.counters[0] = 12345  # the daemon scribbles on the mirror
    lib.aqm_ring_export_counters(h.ring, h.now)
    assert h.hdr.counters[lib.AQMLLM_CNT_RECORDS] == 1


def test_bad_geometry_and_params_refused() -> None:
    from aqmllm.bridge._aqmcore import ffi

    def size(rec: int, vd: int, ivl: int = 0, nq: int = 1) -> int:
        g = {"rec_entries": rec, "vd_entries": vd, "ivl_entries": ivl, "nqueues": nq}
        return lib.aqm_region_size(ffi.new("struct aqm_geom *", g))

    assert size(100, 64) == 0  # not a power of two
    assert size(32, 64) == 0  # below the minimum
    assert size(64, 64, ivl=96) == 0  # the interval ring too
    assert size(64, 64, nq=0) == 0
    assert size(64, 64) > 0  # ivl 0: sized for the queues
    par = ffi.new("struct aqm_params *")
    lib.aqm_params_defaults(par, 0)
    par.fb_id = 3
    assert lib.aqm_params_validate(par) == lib.AQM_EINVAL
    lib.aqm_params_defaults(par, 1)
    par.limit_pkts = 0
    q = ffi.new("struct aqm_queue *")
    assert lib.aqm_queue_init(q, 0, par, 1, 0) == lib.AQM_EINVAL


def test_a_packet_too_young_for_any_verdict_skips_the_ring(h: Harness) -> None:
    h.attach()
    h.enqueue(ECT1)
    h.enqueue(ECT1)
    h.write_verdict(seq=1, action=MARK)
    act, p = h.dequeue()  # the periodic drain reads the ring
    assert (act, p.src) == (MARK, SRC_VERDICT)
    # Seq 2 leaves 1 us after its enqueue: no daemon answers that fast, so
    # the packet path does not touch the daemon's cache line for it.
    h.write_verdict(seq=2, action=MARK)
    h.now += 1_000
    h.heartbeat()
    act, p = h.dequeue()
    assert p.src != SRC_VERDICT
    # A packet that stayed 3 us gets the verdict waiting for it.
    h.enqueue(ECT1)
    h.write_verdict(seq=3, action=MARK)
    h.now += 3_000
    h.heartbeat()
    act, p = h.dequeue()
    assert (act, p.src) == (MARK, SRC_VERDICT)
    assert h.counter("rej_late") == 1  # seq 2's verdict came for a departed packet
