"""The bridge: identity and geometry checks, zero-copy batches, verdicts
and policies that the real C core then honours."""

from __future__ import annotations

import mmap
import os
from pathlib import Path

import numpy as np
import pytest
from aqmllm.bridge import layout
from aqmllm.bridge._aqmcore import lib
from aqmllm.bridge.ring import AbiMismatch, Ring, RingError
from shm_producer import ShmProducer


def _poke(path: Path, field: str, value: int) -> None:
    off = layout.HEADER_DTYPE.fields[field][1]
    size = layout.HEADER_DTYPE.fields[field][0].itemsize
    with open(path, "r+b") as f, mmap.mmap(f.fileno(), 0) as m:
        m[off : off + size] = value.to_bytes(size, "little")


def test_abi_mismatch_names_both_versions(producer: ShmProducer, tmp_path: Path) -> None:
    _poke(tmp_path / "ring", "abi_version", 99)
    with pytest.raises(AbiMismatch, match=rf"version 99.*version {layout.ABI_VERSION}"):
        Ring.open_shm(tmp_path / "ring")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("magic", 0x1234, "bad magic"),
        ("rec_entries", 100, "rec_entries 100"),
        ("vd_offset", 64, "overlap"),
        ("region_size", 4096, "beyond the region"),
        ("nqueues", 0, "nqueues"),
    ],
)
def test_corrupt_region_is_refused(
    producer: ShmProducer, tmp_path: Path, field: str, value: int, message: str
) -> None:
    _poke(tmp_path / "ring", field, value)
    with pytest.raises(RingError, match=message):
        Ring.open_shm(tmp_path / "ring")


def test_missing_and_truncated_files(tmp_path: Path) -> None:
    with pytest.raises(RingError, match="no ring here"):
        Ring.open_shm(tmp_path / "absent")
    (tmp_path / "short").write_bytes(b"\0" * 100)
    with pytest.raises(RingError, match="smaller than the ring header"):
        Ring.open_shm(tmp_path / "short")


def test_no_records_until_attached(producer: ShmProducer, tmp_path: Path) -> None:
    ring = Ring.open_shm(tmp_path / "ring")
    producer.enqueue(3)
    assert ring.pending() == 0
    ring.attach()
    producer.now += 100_000  # past the producer's liveness cache
    producer.enqueue(3)
    assert ring.pending() == 3
    ring.close()


def test_batches_are_zero_copy_views_and_wrap(tmp_path: Path) -> None:
    prod = ShmProducer(tmp_path / "ring", entries=64)
    ring = Ring.open_shm(tmp_path / "ring")
    ring.attach()
    prod.enqueue(50)
    ring.consume(len(ring.peek(50)[0]))
    prod.enqueue(30)
    views = ring.peek(100)
    assert [len(v) for v in views] == [14, 16]  # wraps at slot 64
    assert all(v.base is not None for v in views)  # views, not copies
    seqs = np.concatenate([v["seq"] for v in views])
    assert list(seqs) == list(range(51, 81))
    ring.close()
    prod.close()


def test_verdicts_reach_the_core(producer: ShmProducer, tmp_path: Path) -> None:
    ring = Ring.open_shm(tmp_path / "ring")
    ring.attach()
    pkts = producer.enqueue(4, ecn=0)
    (batch,) = ring.peek(10)
    actions = np.array(
        [layout.ACT_PASS, layout.ACT_DROP, layout.ACT_PASS, layout.ACT_DROP], dtype=np.uint8
    )
    assert ring.write_verdicts(batch["seq"], actions) == 4
    ring.consume(4)
    producer.now += 100_000  # the producer re-reads the daemon line every 50 us
    ring.heartbeat()
    got = [producer.dequeue(p) for p in pkts]
    # The last drop meets a one-packet backlog: the guardrail passes it.
    assert got == [1, 2, 1, 1] and producer.counter("guard_minq") == 1
    assert all(p.src == lib.AQM_SRC_VERDICT for _, p in pkts)
    ring.close()


def test_policies_reach_the_core(producer: ShmProducer, tmp_path: Path) -> None:
    ring = Ring.open_shm(tmp_path / "ring")
    ring.attach()
    pkts = producer.enqueue(3, ecn=1, qi=1)
    ring.write_policies(np.array([1]), np.array([0.0]), np.array([1.0]), producer.now + 10**9)
    producer.now += 100_000
    ring.heartbeat()
    assert {producer.dequeue(p) for p in pkts} == {layout.ACT_MARK}
    assert all(p.src == lib.AQM_SRC_POLICY for _, p in pkts)
    with pytest.raises(ValueError, match="nqueues"):
        ring.write_policies(np.array([7]), np.array([0.0]), np.array([0.0]), 0)
    ring.close()


def test_verdict_ring_full_writes_what_fits(tmp_path: Path) -> None:
    prod = ShmProducer(tmp_path / "ring", entries=64)
    ring = Ring.open_shm(tmp_path / "ring")
    seqs = np.arange(1, 101, dtype=np.uint64)
    assert ring.write_verdicts(seqs, np.ones(100, dtype=np.uint8)) == 64
    assert ring.write_verdicts(seqs, np.ones(100, dtype=np.uint8)) == 0
    ring.close()
    prod.close()


def test_counters_and_detach(producer: ShmProducer, tmp_path: Path) -> None:
    ring = Ring.open_shm(tmp_path / "ring")
    ring.attach()
    assert int(ring.hdr["daemon_pid"]) == os.getpid()
    producer.enqueue(2)
    lib.aqm_ring_export_counters(producer.ring, producer.now)
    assert ring.counters()["records"] == 2
    ring.close()
    raw = Path(tmp_path / "ring").read_bytes()
    state = np.frombuffer(raw[: layout.HEADER_DTYPE.itemsize], layout.HEADER_DTYPE)[0]
    assert int(state["daemon_state"]) == lib.AQMLLM_DS_DETACHED
