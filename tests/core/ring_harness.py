"""A Python driver for the portable core through cffi, as a kernel would
drive it: FIFO storage given to the core, caller-owned time, one ring."""

from __future__ import annotations

from dataclasses import dataclass, field

from aqmllm.bridge._aqmcore import ffi, lib

MS = 1_000_000


@dataclass
class Harness:
    fb: int = 0
    nqueues: int = 1
    rec_entries: int = 256
    vd_entries: int = 128
    limit: int = 1000
    rate_bps: int = 100_000_000
    now: int = 1_000_000_000
    queues: list = field(default_factory=list)
    storage: list = field(default_factory=list)

    def __post_init__(self) -> None:
        size = lib.aqm_region_size(self.rec_entries, self.vd_entries)
        assert size > 0
        self.size = size
        self.region = ffi.new("char[]", size)
        self.vt = ffi.new("struct aqm_vt_entry[]", self.rec_entries)
        self.pol = ffi.new("struct aqm_policy[]", self.nqueues)
        self.ring = ffi.new("struct aqm_ring *")
        rc = lib.aqm_ring_init(
            self.ring,
            self.region,
            size,
            self.rec_entries,
            self.vd_entries,
            self.nqueues,
            self.vt,
            self.pol,
        )
        assert rc == 0
        self.hdr = self.ring.hdr
        par = ffi.new("struct aqm_params *")
        lib.aqm_params_defaults(par, self.fb)
        par.limit_pkts = self.limit
        par.link_rate_bps = self.rate_bps
        self.par = par
        for qid in range(self.nqueues):
            q = ffi.new("struct aqm_queue *")
            assert lib.aqm_queue_init(q, qid, par, 7 + qid, self.now) == 0
            cap = lib.aqm_fifo_cap(self.limit)
            for cls in (0, 1):
                slots = ffi.new("struct aqm_pkt[]", cap)
                assert lib.aqm_queue_storage(q, cls, slots, cap, ffi.NULL) == 0
                self.storage.append(slots)
            self.queues.append(q)

    # -- the daemon's side, written straight into the region --
    def attach(self) -> None:
        lib.aqm_ring_set_attached(self.ring, 1)
        self.hdr.daemon_state = lib.AQMLLM_DS_ATTACHED
        self.heartbeat()

    def heartbeat(self) -> None:
        self.hdr.heartbeat_ns = self.now

    def write_verdict(self, **fields: int) -> None:
        v = self.ring.vds[self.hdr.vd_prod & (self.vd_entries - 1)]
        v.seq = fields.get("seq", 0)
        v.kind = fields.get("kind", lib.AQMLLM_VK_PACKET)
        v.action = fields.get("action", 0)
        v.flags = fields.get("flags", 0)
        v.queue_id = fields.get("queue_id", 0)
        v.drop_prob = fields.get("drop_prob", 0)
        v.mark_prob = fields.get("mark_prob", 0)
        v.expiry_ns = fields.get("expiry_ns", 0)
        self.hdr.vd_prod += 1

    def policy(self, qid: int, drop: float, mark: float, ttl_ns: int) -> None:
        self.write_verdict(
            kind=lib.AQMLLM_VK_POLICY,
            queue_id=qid,
            drop_prob=min(int(drop * 2**32), 2**32 - 1),
            mark_prob=min(int(mark * 2**32), 2**32 - 1),
            expiry_ns=self.now + ttl_ns,
        )

    def counter(self, name: str) -> int:
        return int(self.ring.cnt[getattr(lib, "AQMLLM_CNT_" + name.upper())])

    # -- the packet path --
    def queued(self, qi: int = 0, cls: int | None = None) -> int:
        fifo = self.queues[qi].fifo
        return sum(fifo[k].tail - fifo[k].head for k in ((0, 1) if cls is None else (cls,)))

    def enqueue(self, ecn: int, length: int = 1500, qi: int = 0, flow: int = 1):
        p = ffi.new("struct aqm_pkt *", {"len": length, "ecn": ecn, "flow_hash": flow})
        act = lib.aqm_enqueue(self.queues[qi], self.ring, p, self.now)
        return act, p

    def dequeue(self, qi: int = 0):
        cls = lib.aqm_select(self.queues[qi], self.now)
        if cls < 0:
            return None, None
        p = ffi.new("struct aqm_pkt *")
        act = lib.aqm_dequeue(self.queues[qi], self.ring, cls, self.now, p)
        return act, p

    def record(self, seq: int):
        return self.ring.recs[(seq - 1) & (self.rec_entries - 1)]
