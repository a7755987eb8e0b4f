"""The models' interval records are the ring's: one dtype, from the C header through cffi."""

from __future__ import annotations

import numpy as np
from aqmllm.bridge import layout
from aqmllm.bridge.ring import Ring
from aqmllm.models.rl import records

# What the models read, where the ABI (kmod/include/aqmllm_ring.h) puts it.
HEAD = {
    "seq": 0, "t_ns": 8, "queue_id": 16, "interval_ns": 20, "busy_ns": 24, "rate_kbps": 28,
    "fb_id": 32, "flags": 34, "fb_state": 36, "target_ns": 48, "res_log2_mult": 52,
    "res_step_us": 56, "res_log2_target": 58, "cls": 64,
}  # fmt: skip
CLASS = {
    "backlog_pkts": 0, "backlog_bytes": 4, "arr_pkts": 8, "arr_bytes": 12, "dep_pkts": 16,
    "dep_bytes": 20, "sojourn_max_ns": 24, "sojourn_mean_ns": 28, "drop_enq": 32,
    "drop_deq": 36, "drop_limit": 40, "marks": 44, "ecn": 48,
}  # fmt: skip


def test_the_dtype_is_the_abis() -> None:
    assert records.INTERVAL_DTYPE is layout.INTERVAL_DTYPE
    assert records.CLASS_IVL_DTYPE is layout.CLASS_IVL_DTYPE
    assert records.INTERVAL_DTYPE.itemsize == 192 and records.CLASS_IVL_DTYPE.itemsize == 64
    for name, off in HEAD.items():
        assert records.INTERVAL_DTYPE.fields[name][1] == off, name
    for name, off in CLASS.items():
        assert records.CLASS_IVL_DTYPE.fields[name][1] == off, name
    assert records.INTERVAL_DTYPE["cls"].shape == (2,)
    assert records.CLASS_FIELDS == tuple(CLASS)
    assert set(records.HEAD_FIELDS) == set(HEAD) - {"cls"}


def test_records_the_core_writes_read_through_the_models_view(producer) -> None:
    """A queue's interval, written by the C core into a shm ring, seen by cls_field."""
    ring = Ring.open_shm(producer.path.decode())
    try:
        ring.attach()  # records go out only to an attached, live daemon
        ring.last_clock_ns = producer.now
        ring.heartbeat()
        items = producer.enqueue(10, ecn=layout.ECN_ECT1)  # L4S
        producer.enqueue(4, ecn=layout.ECN_ECT0)  # Classic
        producer.now += 5_000_000
        for item in items[:6]:
            producer.dequeue(item)
        producer.now += 20_000_000  # past the interval: the next packet writes its record
        ring.last_clock_ns = producer.now
        ring.heartbeat()
        producer.enqueue(1, ecn=layout.ECN_ECT1)
        views = ring.peek_intervals(64)
        recs = np.concatenate(views)
        records.check_records(recs)
        assert recs.dtype == records.INTERVAL_DTYPE
        mine = recs[recs["queue_id"] == 0]
        assert len(mine) >= 1
        arr_l = records.cls_field(mine, "arr_pkts", records.CLASS_L).sum()
        dep_l = records.cls_field(mine, "dep_pkts", records.CLASS_L).sum()
        arr_c = records.cls_field(mine, "arr_pkts", records.CLASS_C).sum()
        assert (arr_l, dep_l, arr_c) == (10, 6, 4)
        assert records.cls_field(mine[-1:], "backlog_pkts", records.CLASS_L)[0] == 4
    finally:
        ring.close()
