"""The interval loop: one residual per queue per interval, reaching the core;
its policies, its history, a failing or slow policy, the live teacher, and
interval models loaded (or refused) by mode."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from aqmllm.bridge import layout
from aqmllm.bridge._aqmcore import lib
from aqmllm.bridge.ring import Ring
from aqmllm.daemon.config import ConfigError, load_config
from aqmllm.daemon.interval_loop import IntervalLoop, IntervalSettings, newest_per_queue
from aqmllm.daemon.interval_policies import (
    ConstantResidual,
    FallbackResidual,
    LevelPolicy,
    make_interval_policy,
    parse_spec,
)
from aqmllm.daemon.live_teacher import LiveTeacher
from aqmllm.daemon.policies import PolicyError
from aqmllm.models.interval_history import SLOW_NAMES, IntervalHistory
from shm_producer import ShmProducer

MS = 1_000_000
Q8 = layout.RES_Q8_ONE


@pytest.fixture
def ring(producer: ShmProducer, tmp_path: Path):
    r = Ring.open_shm(tmp_path / "ring")
    yield r
    r.close()


def _intervals(producer: ShmProducer, n: int = 1, queues=(0, 1), ring: Ring | None = None) -> None:
    """n intervals of traffic on the queues, one packet in, one out per ms
    (with ring: its daemon's heartbeat kept fresh meanwhile)."""
    for _ in range(n * 16):
        producer.now += MS
        if ring is not None:
            _heartbeat(producer, ring)
        for q in queues:
            for item in producer.enqueue(1, ecn=(1 if producer.now % 3 else 0), qi=q):
                producer.dequeue(item)


def _heartbeat(producer: ShmProducer, ring: Ring) -> None:
    ring.last_clock_ns = producer.now
    ring.heartbeat()


def test_fallback_policy_answers_every_queue_with_zero(producer: ShmProducer, ring: Ring) -> None:
    loop = IntervalLoop(ring, FallbackResidual())
    _heartbeat(producer, ring)
    _intervals(producer, 3)
    assert ring.pending_intervals() >= 4
    assert loop.step(now_ns=producer.now) == 2  # newest record of each queue
    assert ring.pending_intervals() == 0 and loop.stats.nonzero == 0
    _intervals(producer, 1, ring=ring)  # the producer reads them at its next calls
    assert producer.counter("res_accepted") == 2
    assert producer.counter("res_rej_seq") + producer.counter("res_rej_queue") == 0
    assert not producer.queues[0].res_on


def test_a_constant_residual_reaches_the_core(producer: ShmProducer, ring: Ring) -> None:
    loop = IntervalLoop(ring, ConstantResidual(target=-1.0, mult_c=1.0, step_us=2000))
    _heartbeat(producer, ring)
    _intervals(producer, 2)
    assert loop.step(now_ns=producer.now) == 2
    _intervals(producer, 1, ring=ring)
    for q in producer.queues:
        d = q.fb.dualpi2
        assert q.res_on and d.target_ns == 15 * MS // 2 and d.step_ns == 2 * MS
        assert d.mult_q24[0] == 2 << 24 and d.mult_q24[1] == 0
    # The next records say what is in effect; telemetry shows it per queue.
    loop.step(now_ns=producer.now)
    snap = loop.snapshot()
    assert snap["queues"]["0"]["in_effect"]["log2_target_q8"] == -Q8
    assert snap["queues"]["1"]["written"]["log2_mult_c_q8"] == Q8
    assert snap["late"] == 0 and snap["nonzero"] == 4


def test_residuals_expire_when_the_daemon_stops_answering(
    producer: ShmProducer, ring: Ring
) -> None:
    loop = IntervalLoop(ring, ConstantResidual(mult_l=2.0), IntervalSettings(expiry_intervals=2))
    _heartbeat(producer, ring)
    _intervals(producer, 2)
    loop.step(now_ns=producer.now)
    _intervals(producer, 1, ring=ring)
    assert producer.queues[0].res_on
    _intervals(producer, 2, ring=ring)  # the daemon stops answering: the expiry passes
    assert not producer.queues[0].res_on and producer.counter("res_expired") >= 1


def test_late_residuals_are_counted(producer: ShmProducer, ring: Ring) -> None:
    loop = IntervalLoop(ring, FallbackResidual())
    _heartbeat(producer, ring)
    _intervals(producer, 1)
    # answered two intervals after the record's end: the next interval is over
    assert loop.step(now_ns=producer.now + 40 * MS) == 2
    assert loop.stats.late == 2 and loop.queues.late[:2].tolist() == [1, 1]


def test_a_failing_policy_turns_the_tier_off_and_is_retried(
    producer: ShmProducer, ring: Ring
) -> None:
    calls = {"n": 0}

    class Flaky:
        name = "flaky"

        def reset(self) -> None:
            pass

        def residuals(self, records):
            calls["n"] += 1
            if calls["n"] == 1:
                raise RuntimeError("CUDA fell over")
            return {"res_log2_mult": np.full((len(records), 2), np.nan)}

    loop = IntervalLoop(ring, Flaky, IntervalSettings(retry_after_s=0.0))
    _heartbeat(producer, ring)
    _intervals(producer, 1)
    assert loop.step(now_ns=producer.now) == 0
    assert loop.policy is None and "CUDA fell over" in loop.off_reason
    assert int(ring.hdr["daemon_state"]) == lib.AQMLLM_DS_POLICY_OFF
    _intervals(producer, 1)
    assert loop.step(now_ns=producer.now) == 0  # rebuilt, then refused: NaN
    assert "NaN" in loop.off_reason and loop.stats.failures == 2
    assert int(ring.hdr["vd_prod"]) == 0


def test_a_slow_policy_times_out(producer: ShmProducer, ring: Ring) -> None:
    class Slow(FallbackResidual):
        name = "slow"

        def residuals(self, records):
            time.sleep(0.02)
            return super().residuals(records)

    loop = IntervalLoop(ring, Slow(), IntervalSettings(model_timeout_ms=5))
    _heartbeat(producer, ring)
    _intervals(producer, 1)
    assert loop.step(now_ns=producer.now) == 0
    assert loop.stats.timeouts == 1 and "took" in loop.off_reason


def test_issue16_level_policies_run_through_their_level_table(
    producer: ShmProducer, ring: Ring
) -> None:
    table = {
        "target": {"levels": [0.0, -1.0, 0.5]},
        "mult_c": {"levels": [0.0, -3.0, 3.0]},
        "mult_l": {"levels": [0.0, 1.0]},
        "step": {"levels": [0.0, 250.0, 4000.0]},
    }

    class Levels:  # issue 16's protocol: act(records) -> (Q, 4) level indices
        name = "levels"

        def reset(self) -> None:
            pass

        def act(self, records):
            return np.tile([1, 2, 1, 2], (len(records), 1))

    loop = IntervalLoop(ring, LevelPolicy(Levels(), table))
    _heartbeat(producer, ring)
    _intervals(producer, 1)
    loop.step(now_ns=producer.now)
    _intervals(producer, 1, ring=ring)
    d = producer.queues[0].fb.dualpi2
    assert d.target_ns == 15 * MS // 2 and d.step_ns == 4 * MS
    assert d.mult_q24[0] == 8 << 24 and d.mult_q24[1] == 2 << 24


def test_newest_record_per_queue() -> None:
    recs = np.zeros(5, layout.INTERVAL_DTYPE)
    recs["queue_id"] = [3, 1, 3, 1, 7]
    recs["seq"] = [1, 2, 3, 4, 5]
    latest = newest_per_queue(recs)
    assert dict(zip(latest["queue_id"].tolist(), latest["seq"].tolist(), strict=True)) == {
        1: 4,
        3: 3,
        7: 5,
    }


def test_history_windows_and_slow_context() -> None:
    h = IntervalHistory(window=4)
    for t in range(6):
        recs = np.zeros(2, layout.INTERVAL_DTYPE)
        recs["queue_id"] = [2, 0] if t < 5 else [2, 2]  # queue 0 stops at t 4
        recs["seq"] = [2 * t + 1, 2 * t + 2]
        recs["interval_ns"] = 16 * MS
        recs["busy_ns"] = 8 * MS
        recs["cls"]["dep_bytes"][:, 0] = 20_000
        h.update(recs)
    w = h.window(np.array([2, 0, 5]))
    assert w.shape == (3, 4)
    assert w["seq"][0].tolist() == [7, 9, 11, 12]  # oldest first, both of the last batch
    assert w["seq"][1].tolist() == [4, 6, 8, 10] and (w["seq"][2] == 0).all()
    assert h.filled(np.array([2, 0, 5])).tolist() == [4, 4, 0]
    slow = h.slow(np.array([2]))[0]
    assert slow[SLOW_NAMES.index("busy_1s")] == pytest.approx(0.5)
    assert slow[SLOW_NAMES.index("rate_bps_8s")] == pytest.approx(20_000 * 8 / 0.016)
    short = h.window(np.array([0]), length=2)
    assert short["seq"][0].tolist() == [8, 10]


def test_policy_specs_and_config() -> None:
    p = parse_spec("constant:c=+1,target=-1,step=2000")
    out = p.residuals(np.zeros(2, layout.INTERVAL_DTYPE))
    assert out["res_log2_mult"].tolist() == [[Q8, 0]] * 2
    assert (
        out["res_log2_target"].tolist() == [-Q8] * 2 and out["res_step_us"].tolist() == [2000] * 2
    )
    assert isinstance(parse_spec("fallback"), FallbackResidual)
    for bad in ("constant:x=1", "constant:c=big", "constant:step=100", "newfangled"):
        with pytest.raises(PolicyError):
            parse_spec(bad)
    cfg = load_config(
        None, ["inference.mode=interval", "interval.policy=constant", "interval.mult_c=-2"]
    )
    assert make_interval_policy(cfg).residuals(np.zeros(1, layout.INTERVAL_DTYPE))[
        "res_log2_mult"
    ].tolist() == [[-2 * Q8, 0]]
    with pytest.raises(ConfigError, match="interval.model"):
        load_config(None, ["interval.policy=model"])
    with pytest.raises(ConfigError, match="inference.mode"):
        load_config(None, ["teacher.mode=live", "teacher.model=x"])
    with pytest.raises(ConfigError, match="not one of"):
        load_config(None, ["inference.mode=sometimes"])
    with pytest.raises(ConfigError, match="above the maximum"):
        load_config(None, ["interval.mult_c=4"])


class _Teacher:
    def __init__(self, delay_s: float = 0.0, fail: bool = False) -> None:
        self.name, self.delay_s, self.fail = "teacher", delay_s, fail

    def reset(self) -> None:
        pass

    def residuals(self, records):
        time.sleep(self.delay_s)
        if self.fail:
            raise RuntimeError("out of memory")
        return ConstantResidual(mult_c=3.0).residuals(records)


def test_live_teacher_decides_when_on_time() -> None:
    live = LiveTeacher(lambda: _Teacher(), FallbackResidual(), deadline_s=1.0)
    out = live.residuals(np.zeros(3, layout.INTERVAL_DTYPE))
    assert out["res_log2_mult"][:, 0].tolist() == [3 * Q8] * 3
    assert live.teacher_rounds == 1 and live.student_rounds == 0
    live.close()


def test_live_teacher_late_or_failing_leaves_it_to_the_student() -> None:
    live = LiveTeacher(lambda: _Teacher(delay_s=0.2), FallbackResidual(), deadline_s=0.01)
    recs = np.zeros(2, layout.INTERVAL_DTYPE)
    assert live.residuals(recs)["res_log2_mult"].tolist() == [[0, 0]] * 2  # late
    assert live.residuals(recs)["res_log2_mult"].tolist() == [[0, 0]] * 2  # still busy
    assert live.late == 2 and live.student_rounds == 2 and live.teacher_rounds == 0
    live.close()
    broken = LiveTeacher(lambda: _Teacher(fail=True), FallbackResidual(), 1.0, retry_after_s=60)
    broken.residuals(recs)
    assert broken.failures == 1 and broken.teacher is None and "out of memory" in broken.last_error
    broken.residuals(recs)
    assert broken.student_rounds == 2
    broken.close()


def test_tracked_feature_rows_are_computed_once_per_record_and_backfilled() -> None:
    def seq_and_prev(recs, prev, slow):
        return np.stack([recs["seq"], prev["seq"]], axis=1).astype(np.float32)

    early, late = IntervalHistory(window=3), IntervalHistory(window=3)
    early.track("s", seq_and_prev, 2)
    for t in range(4):
        recs = np.zeros(1, layout.INTERVAL_DTYPE)
        recs["seq"] = t + 1
        recs["interval_ns"] = 16 * MS
        early.update(recs)
        late.update(recs)
    late.track("s", seq_and_prev, 2)  # a model loaded later: its rows from the held records
    # The oldest held record's predecessor is gone: a backfill cannot know it.
    for h, first_prev in ((early, 1), (late, 0)):
        rows = h.features("s", np.array([0, 9]), 3)
        assert rows[0].tolist() == [[2, first_prev], [3, 2], [4, 3]]
        assert (rows[1] == 0).all()  # a queue never seen
