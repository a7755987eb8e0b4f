"""An in-process producer for daemon tests: the C core on a shm ring file."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

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
        par.limit_pkts = 1024
        self.queues = []
        self.storage = []
        for q in range(nqueues):
            qs = ffi.new("struct aqm_queue *")
            assert lib.aqm_queue_init(qs, q, par, q + 1, 0) == 0
            for cls in (0, 1):
                slots = ffi.new("struct aqm_pkt[]", 1024)
                assert lib.aqm_queue_storage(qs, cls, slots, 1024, ffi.NULL) == 0
                self.storage.append(slots)
            self.queues.append(qs)
        self.now = 1_000_000_000

    def enqueue(self, n: int, ecn: int = 1, qi: int = 0) -> list:
        out = []
        for _ in range(n):
            p = ffi.new("struct aqm_pkt *", {"len": 1500, "ecn": ecn})
            assert lib.aqm_enqueue(self.queues[qi], self.ring, p, self.now) == 1
            out.append((qi, p))
        return out

    def dequeue(self, item) -> int:
        """Dequeue the head of item's class, which must be item; item gets
        the core's copy (its decision source)."""
        qi, p = item
        out = ffi.new("struct aqm_pkt *")
        act = lib.aqm_dequeue(self.queues[qi], self.ring, p.cls, self.now, out)
        assert out.seq == p.seq and out.enq_ns == p.enq_ns, "dequeue in FIFO order"
        p[0] = out[0]
        return act

    def counter(self, name: str) -> int:
        return int(self.ring.cnt[getattr(lib, "AQMLLM_CNT_" + name.upper())])

    def close(self) -> None:
        lib.aqm_shm_destroy(self.shm, self.path, 1)


def wait_policy_off(ring: Any, seconds: float = 5.0) -> None:
    """Until the daemon line of ``ring`` (a bridge Ring) says "policy off" (a watchdog's)."""
    end = time.monotonic() + seconds
    while int(ring.hdr["daemon_state"]) != lib.AQMLLM_DS_POLICY_OFF:
        assert time.monotonic() < end, "the watchdog never switched the policy off"
        time.sleep(0.005)
