"""The inference loop: decisions, deadlines, and surviving a failing model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from aqmllm.bridge import layout
from aqmllm.bridge._aqmcore import lib
from aqmllm.bridge.ring import Ring
from aqmllm.daemon.loop import InferenceLoop, LoopSettings
from aqmllm.daemon.policies import PassPolicy, PolicyError, make_policy
from shm_producer import ShmProducer


class Exploding:
    name = "exploding"

    def decide(self, records: np.ndarray) -> np.ndarray:
        raise RuntimeError("CUDA fell over")


class NaNs:
    name = "nans"

    def decide(self, records: np.ndarray) -> np.ndarray:
        return np.full(len(records), np.nan)


class AlwaysDrop:
    name = "drop"

    def decide(self, records: np.ndarray) -> np.ndarray:
        return np.full(len(records), layout.ACT_DROP, dtype=np.uint8)


@pytest.fixture
def ring(producer: ShmProducer, tmp_path: Path):
    r = Ring.open_shm(tmp_path / "ring")
    yield r
    r.close()


def _state(ring: Ring) -> int:
    return int(ring.hdr["daemon_state"])


def test_step_writes_one_verdict_per_record(producer: ShmProducer, ring: Ring) -> None:
    loop = InferenceLoop(ring, AlwaysDrop)
    producer.now += 100_000
    producer.enqueue(5, ecn=0)
    assert loop.step(now_ns=producer.now) == 5
    assert ring.pending() == 0 and loop.stats.by_action["drop"] == 5
    assert int(ring.hdr["vd_prod"]) == 5


def test_late_verdicts_are_skipped(producer: ShmProducer, ring: Ring) -> None:
    loop = InferenceLoop(ring, PassPolicy)
    producer.now += 100_000
    producer.enqueue(4)
    (batch,) = ring.peek(10)
    due = batch["t_ns"] + batch["est_wait_ns"]
    assert len(set(due)) == 4  # each waits behind the ones before it
    # Between the second and third packet's departure: two are late.
    assert loop.step(now_ns=int(due[1]) + 100_000) == 2
    assert loop.stats.late_skipped == 2
    assert list(ring.verdicts["seq"][:2]) == list(batch["seq"][2:])


def test_model_exception_switches_policy_off_and_recovers(
    producer: ShmProducer, ring: Ring
) -> None:
    loop = InferenceLoop(ring, Exploding, LoopSettings(retry_after_s=0.0))
    producer.now += 100_000
    producer.enqueue(3)
    assert loop.step(now_ns=producer.now) == 0
    assert _state(ring) == lib.AQMLLM_DS_POLICY_OFF
    assert "CUDA fell over" in loop.off_reason
    loop.replace_policy(PassPolicy)
    producer.enqueue(3)
    assert loop.step(now_ns=producer.now) == 3
    assert _state(ring) == lib.AQMLLM_DS_ATTACHED


def test_nan_output_is_a_failure(producer: ShmProducer, ring: Ring) -> None:
    loop = InferenceLoop(ring, NaNs)
    producer.now += 100_000
    producer.enqueue(2)
    assert loop.step(now_ns=producer.now) == 0
    assert "NaN" in loop.off_reason and loop.stats.failures == 1


def test_bad_model_file_leaves_the_kernel_deciding(
    producer: ShmProducer, ring: Ring, tmp_path: Path
) -> None:
    bad = tmp_path / "model.json"
    bad.write_text("{ not json")
    loop = InferenceLoop(ring, lambda: make_policy("model", str(bad)))
    assert loop.policy is None and _state(ring) == lib.AQMLLM_DS_POLICY_OFF
    producer.now += 100_000
    pkts = producer.enqueue(3, ecn=0)
    loop.step(now_ns=producer.now)
    assert loop.stats.policy_off_records == 3
    assert all(producer.dequeue(p) == layout.ACT_PASS for p in pkts)
    assert producer.counter("src_fallback") == 3


def test_unknown_policy_kind() -> None:
    with pytest.raises(PolicyError, match="unknown policy"):
        make_policy("oracle")


def test_a_policy_that_answers_nothing_is_turned_off(producer: ShmProducer, ring: Ring) -> None:
    class Silent:
        name = "silent"

        def decide(self, records: np.ndarray) -> None:
            return None

    loop = InferenceLoop(ring, Silent())
    producer.now += 100_000
    producer.enqueue(3)
    assert loop.step(now_ns=producer.now) == 0
    assert loop.policy is None and "shape" in loop.off_reason and loop.stats.failures == 1
