"""Write (or, with --check, verify) the seed corpora in tests/fuzz/corpus.

The dnmsg seeds are exactly what bridge/dnmsg.py builds for a few pipe
configurations, so the corpus follows the builder; the other seeds are
short deterministic scripts that reach each operation of their target.
"""

from __future__ import annotations

import argparse
import random
import struct
import sys
from pathlib import Path

from aqmllm.bridge.dnmsg import PipeConfig, build_pipe_config

HERE = Path(__file__).resolve().parent
DNMSG = {
    "pipe1-default": PipeConfig(pipe=1),
    "pipe2-100mbit-q50-dualpi2": PipeConfig(2, 100_000_000, 5, 50, "dualpi2"),
    "pipe3-1gbit-q100-pie": PipeConfig(3, 1_000_000_000, 0, 100, "pie"),
    "pipe65535-codel": PipeConfig(65535, 0, 0, 0, "codel"),
    "pipe7-q1000-clamped": PipeConfig(7, 10_000_000, 20, 1000, None),
}


# The ring target's setup (tests/fuzz/fuzz_ring.c): an allocator that never fails; both exports,
# 1 ms intervals; then per queue limit 1000, 40 Mbit/s, a seed, no queue size, no loss.
RING_SETUP = bytes([0x00, 0x02, 0x00]) + b"".join(
    struct.pack("<HBQHBBQ", 998, 2, k + 1, 0, 0, 0, k + 1) for k in range(3)
)


def _residual_script() -> bytes:
    """Packets across the first interval (Tupdate, 16 ms) of the DualPI2 queue with the daemon's
    line on the way, a residual verdict answering the latest interval record (in bounds, ~5 ms),
    the same one again (stale), and packets until it has ended."""
    enq = struct.pack("<BHHBI", 0, 0x0100, 1500, 1, 7)  # ECT(1), 16 us later
    later = struct.pack("<BHHBI", 0, 0xFFFF, 1500, 1, 7)  # ~4.2 ms later
    deq = struct.pack("<BH", 3, 0x0100)
    line = struct.pack("<BHBBIB", 6, 0, 0x22, 0, 0, 0)  # heartbeat now, rings read
    verdict = struct.pack("<BHBB", 5, 0, 1, 0x03)  # one slot, kind 3
    verdict += struct.pack("<BHBBIII", 0, 0, 0, 0, 0, 0, 0)  # action, seq, queue, probs, expiry
    # shape: the record's queue, zero action and flags, knobs in bounds (x1.3 on both, no step),
    # ~5 ms
    verdict += struct.pack("<BBBHHHHI", 0x06, 0, 0, 868, 868, 512, 0, 5000)
    verdict += bytes([2])  # vd_prod: published
    head = enq * 4 + later * 3 + line + later  # the first interval closes: record 1
    return head + verdict + enq + deq + enq + verdict + enq + deq + later * 3 + deq * 2


def seeds() -> dict[str, dict[str, bytes]]:
    rnd = random.Random(17)
    out: dict[str, dict[str, bytes]] = {"dnmsg": {}, "ring": {}, "ioctl": {}, "sysctl": {}}
    for name, cfg in DNMSG.items():
        out["dnmsg"][name] = build_pipe_config(cfg)
    for k in range(4):
        out["ring"][f"script{k}"] = bytes(rnd.randrange(256) for _ in range(512 << k))
    # every op once, in order: enqueue x3, dequeue x2, verdicts, line, scribble, export, attach
    ops = bytes(b for op in range(10) for b in (op, 0x40, 0, 0x10, 0x05, 1))
    out["ring"]["each-op"] = RING_SETUP + ops
    out["ring"]["residuals"] = RING_SETUP + _residual_script()
    out["ioctl"]["attach-map-detach"] = bytes([0x12, 0, 0, 0x15, 0x13, 0x04, 0x01, 0x1F, 1, 1])
    out["ioctl"]["random"] = bytes(rnd.randrange(256) for _ in range(128))
    out["sysctl"]["each-write"] = struct.pack("<BIBIBBBI", 0, 128, 1, 1, 2, 8, 4, 20000)
    # interval_us 16 ms, export "intervals", interval_us 5 ms
    out["sysctl"]["export-interval"] = struct.pack("<BBIBIBBI", 0, 0x0C, 16, 0x02, 0, 1, 0x0C, 5)
    out["sysctl"]["random"] = bytes(rnd.randrange(256) for _ in range(256))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="fail if the tree differs")
    args = ap.parse_args()
    stale = []
    for target, files in seeds().items():
        d = HERE / "corpus" / target
        d.mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            p = d / name
            if args.check:
                if not p.exists() or p.read_bytes() != data:
                    stale.append(str(p.relative_to(HERE)))
            else:
                p.write_bytes(data)
    if stale:
        print(f"make_corpus: out of date (run tests/fuzz/make_corpus.py): {' '.join(stale)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
