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
    ivl_entries: int = 64
    limit: int = 1000
    rate_bps: int = 100_000_000
    now: int = 1_000_000_000
    queues: list = field(default_factory=list)
    storage: list = field(default_factory=list)

    def __post_init__(self) -> None:
        geom = ffi.new(
            "struct aqm_geom *",
            {
                "rec_entries": self.rec_entries,
                "vd_entries": self.vd_entries,
                "ivl_entries": self.ivl_entries,
                "nqueues": self.nqueues,
            },
        )
        size = lib.aqm_region_size(geom)
        assert size > 0
        self.size = size
        self.region = ffi.new("char[]", size)
        priv_size = lib.aqm_ring_private_size(geom)
        self.priv = ffi.new("uint64_t[]", (priv_size + 7) // 8)
        self.ring = ffi.new("struct aqm_ring *")
        rc = lib.aqm_ring_init(self.ring, self.region, size, geom, self.priv, priv_size)
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

    def residual(
        self,
        seq: int,
        qid: int = 0,
        mult_c: int = 0,
        mult_l: int = 0,
        step_us: int = 0,
        target: int = 0,
        ttl_ns: int = 100 * MS,
        **fields: int,
    ) -> None:
        """A VK_RESIDUAL verdict (Q8 log2 scales, step in us) answering interval seq."""
        v = self.ring.vds[self.hdr.vd_prod & (self.vd_entries - 1)]
        v.seq = seq
        v.kind = lib.AQMLLM_VK_RESIDUAL
        v.action = fields.get("action", 0)
        v.flags = fields.get("flags", 0)
        v.queue_id = qid
        v.res_log2_mult[0] = mult_c
        v.res_log2_mult[1] = mult_l
        v.res_step_us = step_us
        v.res_log2_target = target
        v.expiry_ns = fields.get("expiry_ns", self.now + ttl_ns)
        self.hdr.vd_prod += 1

    def intervals(self) -> list:
        """Every interval record published so far (copies of the C structs)."""
        n = self.ring.ivl_prod
        first = max(0, n - self.ivl_entries)
        return [self.ring.ivls[i & (self.ivl_entries - 1)] for i in range(first, n)]

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
