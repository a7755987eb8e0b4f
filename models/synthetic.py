"""SYNTHETIC experience: a small closed-loop bottleneck around the real C core.

This is not the evaluation engine (that is ns-3, in ``aqmllm.sim``): it is a
compact event-driven model for tests, smoke training and for building
pools where ns-3 is not installed.  Flows are window-based: Classic flows
halve their window on a drop or mark (at most once per RTT, Reno-like),
scalable flows (ECT(1)) take half a packet off per mark (DCTCP/Prague-
like).  Every packet crosses the portable C core with its fallback AQM as
the expert; each dequeue decision becomes one (record, action) step.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np
from aqmllm.bridge import layout
from aqmllm.bridge._aqmcore import ffi, lib
from aqmllm.models.pool import Episode


@dataclass
class Flow:
    ecn: int
    base_rtt_ns: int
    scalable: bool
    cwnd: float = 2.0
    ssthresh: float = 1e9
    inflight: int = 0
    last_cut_ns: int = -(10**18)
    delivered: int = 0


@dataclass
class LinkSpec:
    rate_bps: int = 20_000_000
    buffer_pkts: int = 1000


def simulate(
    flows: list[tuple[str, int]],
    expert: str = "dualpi2",
    link: LinkSpec | None = None,
    duration_s: float = 2.0,
    seed: int = 1,
    scenario: str = "synthetic",
    policy=None,
) -> Episode:
    """flows: (kind, base RTT ms) with kind in {"reno", "reno-ecn", "scalable"}.

    With a policy (anything with ``decide(records)``), it answers each
    record as the daemon would, through the ring's verdict slots.
    """
    link = link or LinkSpec()
    rec_n = 4096
    geom = ffi.new("struct aqm_geom *", {"rec_entries": rec_n, "vd_entries": 64, "nqueues": 1})
    size = lib.aqm_region_size(geom)
    region = ffi.new("char[]", size)
    priv_size = lib.aqm_ring_private_size(geom)
    priv = ffi.new("uint64_t[]", (priv_size + 7) // 8)
    ring = ffi.new("struct aqm_ring *")
    assert lib.aqm_ring_init(ring, region, size, geom, priv, priv_size) == 0
    lib.aqm_ring_set_attached(ring, 1)
    # A silent daemon: records flow and the expert's decisions all land at
    # dequeue (PIE defers its arrival drops), but no verdict ever arrives.
    ring.hdr.daemon_state = lib.AQMLLM_DS_ATTACHED
    par = ffi.new("struct aqm_params *")
    lib.aqm_params_defaults(par, layout.FALLBACKS[expert])
    par.limit_pkts = link.buffer_pkts
    par.link_rate_bps = link.rate_bps
    q = ffi.new("struct aqm_queue *")
    assert lib.aqm_queue_init(q, 0, par, seed, 0) == 0
    cap = lib.aqm_fifo_cap(link.buffer_pkts)
    storage = [ffi.new("struct aqm_pkt[]", cap) for _ in (0, 1)]
    for cls, slots in enumerate(storage):
        assert lib.aqm_queue_storage(q, cls, slots, cap, ffi.NULL) == 0
    recs_view = np.frombuffer(
        ffi.buffer(region, size),
        dtype=layout.RECORD_DTYPE,
        count=rec_n,
        offset=int(ring.hdr.rec_offset),
    )
    rng = np.random.default_rng(seed)
    fl = []
    for kind, rtt_ms in flows:
        ecn = {
            "reno": layout.ECN_NOT_ECT,
            "reno-ecn": layout.ECN_ECT0,
            "scalable": layout.ECN_ECT1,
        }[kind]
        fl.append(Flow(ecn, int(rtt_ms * 1e6), kind == "scalable"))
    # The record of each queued packet that had one, by seq (the ring's slot
    # may be reused before the packet leaves).
    queued_recs: dict[int, np.ndarray] = {}
    out = ffi.new("struct aqm_pkt *")
    events: list[tuple[int, int, int, int, int]] = []  # (t, tie, kind, flow, signal)
    tie = 0
    SEND, DONE, ACK = 0, 1, 2
    for i in range(len(fl)):
        heapq.heappush(events, (int(rng.integers(0, 1_000_000)), tie, SEND, i, 0))
        tie += 1
    pkt_ns = 1500 * 8 * 1_000_000_000 // link.rate_bps
    busy = False
    out_recs: list[np.ndarray] = []
    out_acts: list[int] = []
    end = int(duration_s * 1e9)

    def signal(i: int, now: int, loss: bool) -> None:
        f = fl[i]
        if f.scalable and not loss:
            f.cwnd = max(2.0, f.cwnd - 0.5)  # per mark: cwnd * p / 2 per RTT
        elif now - f.last_cut_ns > f.base_rtt_ns:
            f.cwnd = max(2.0, f.cwnd / 2)
            f.last_cut_ns = now
        f.ssthresh = min(f.ssthresh, f.cwnd)  # any signal ends slow start

    def start_link(now: int) -> bool:
        nonlocal tie
        while True:
            cls = lib.aqm_select(q, now)
            if cls < 0:
                return False
            act = lib.aqm_dequeue(q, ring, cls, now, out)
            i, rec = out.flow_hash, queued_recs.pop(out.seq, None)
            if rec is not None:
                out_recs.append(rec)
                out_acts.append(act)
            if act == layout.ACT_DROP:
                heapq.heappush(events, (now + fl[i].base_rtt_ns, tie, ACK, i, 2))
                tie += 1
                continue
            heapq.heappush(events, (now + pkt_ns, tie, DONE, i, int(act == layout.ACT_MARK)))
            tie += 1
            return True

    while events:
        now, _, kind, i, sig = heapq.heappop(events)
        if now > end:
            break
        ring.hdr.heartbeat_ns = now
        if kind == DONE:
            busy = start_link(now)
            heapq.heappush(events, (now + fl[i].base_rtt_ns, tie, ACK, i, sig))
            tie += 1
            continue
        f = fl[i]
        if kind == ACK:
            f.inflight -= 1
            if sig:
                signal(i, now, sig == 2)
            else:
                f.delivered += 1
                f.cwnd += 1.0 if f.cwnd < f.ssthresh else 1.0 / f.cwnd
        while f.inflight < int(f.cwnd):
            p = ffi.new("struct aqm_pkt *", {"len": 1500, "ecn": f.ecn, "flow_hash": i})
            act = lib.aqm_enqueue(q, ring, p, now)
            f.inflight += 1
            if act != layout.ACT_PASS:  # tail drop: seen one RTT later
                heapq.heappush(events, (now + f.base_rtt_ns, tie, ACK, i, 2))
                tie += 1
                continue
            ring.hdr.rec_cons = ring.hdr.rec_prod
            if p.seq:
                rec = queued_recs[p.seq] = recs_view[(p.seq - 1) % rec_n].copy()
                if policy is not None:
                    v = ring.vds[ring.hdr.vd_prod % 64]
                    v.seq, v.kind, v.flags = p.seq, lib.AQMLLM_VK_PACKET, 0
                    v.action = int(policy.decide(rec[None])[0])
                    ring.hdr.vd_prod += 1
            if not busy:
                busy = start_link(now)
    records = (
        np.array(out_recs, dtype=layout.RECORD_DTYPE)
        if out_recs
        else np.zeros(0, layout.RECORD_DTYPE)
    )
    goodput = sum(f.delivered for f in fl) * 1500 * 8 / duration_s
    return Episode(
        records,
        np.array(out_acts, dtype=np.uint8),
        scenario,
        expert,
        {"utilisation": goodput / link.rate_bps, "flows": [(k, r) for k, r in flows]},
    )
