"""An in-process producer for daemon tests: the C core on a shm ring file."""

from __future__ import annotations

from pathlib import Path

from aqmllm.bridge._aqmcore import ffi, lib


class ShmProducer:
    def __init__(self, path: Path, entries: int = 256, nqueues: int = 2, fb: int = 0) -> None:
        self.path = str(path).encode()
        self.shm = ffi.new("struct aqm_shm *")
        rc = lib.aqm_shm_create(self.shm, self.path, entries, entries, nqueues)
        assert rc == 0, rc
        self.ring = ffi.addressof(self.shm.ring)
        par = ffi.new("struct aqm_params *")
        lib.aqm_params_defaults(par, fb)
        par.link_rate_bps = 10_000_000
        self.queues = []
        for q in range(nqueues):
            qs = ffi.new("struct aqm_queue *")
            assert lib.aqm_queue_init(qs, q, par, q + 1, 0) == 0
            self.queues.append(qs)
        self.now = 1_000_000_000
        self.held: list = []

    def enqueue(self, n: int, ecn: int = 1, qi: int = 0) -> list:
        heads = ffi.new("uint64_t[2]")
        out = []
        for _ in range(n):
            p = ffi.new("struct aqm_pkt *", {"len": 1500, "ecn": ecn})
            assert lib.aqm_enqueue(self.queues[qi], self.ring, p, heads, self.now) == 1
            out.append((qi, p))
        self.held += out
        return out

    def dequeue(self, item) -> int:
        qi, p = item
        heads = ffi.new("uint64_t[2]")
        heads[p.cls] = p.enq_ns
        return lib.aqm_dequeue(self.queues[qi], self.ring, p, heads, self.now)

    def counter(self, name: str) -> int:
        return int(self.ring.cnt[getattr(lib, "AQMLLM_CNT_" + name.upper())])

    def close(self) -> None:
        lib.aqm_shm_destroy(self.shm, self.path, 1)
