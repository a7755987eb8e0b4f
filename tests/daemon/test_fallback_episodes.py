"""Fallback episodes: counted, timed, shown in the ring's daemon line and in the metrics."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from aqmllm.bridge.ring import Ring
from aqmllm.daemon.loop import InferenceLoop, LoopSettings
from aqmllm.daemon.metrics import registry_for
from aqmllm.daemon.policies import PassPolicy
from aqmllm.daemon.telemetry import LoopView
from prometheus_client import generate_latest
from shm_producer import ShmProducer


class Fails:
    name = "fails"

    def decide(self, records: np.ndarray) -> np.ndarray:
        raise RuntimeError("no")


@pytest.fixture
def ring(producer: ShmProducer, tmp_path: Path):
    r = Ring.open_shm(tmp_path / "ring")
    yield r
    r.close()


def test_an_episode_opens_closes_and_is_shown(producer: ShmProducer, ring: Ring) -> None:
    loop = InferenceLoop(ring, Fails(), LoopSettings(retry_after_s=3600))
    assert int(ring.hdr["daemon_fallbacks"]) == 0 and loop.slot.episodes == 0
    producer.now += 100_000
    producer.enqueue(3)
    loop.step(now_ns=producer.now)
    assert loop.policy is None and loop.slot.episodes == 1
    assert int(ring.hdr["daemon_fallbacks"]) == 1 and int(ring.hdr["daemon_fallback_since_ns"]) > 0
    time.sleep(0.05)
    loop.replace_policy(PassPolicy)  # the episode ends
    assert int(ring.hdr["daemon_fallback_since_ns"]) == 0
    assert int(ring.hdr["daemon_fallback_ns"]) >= 50_000_000
    assert loop.slot.off_seconds() >= 0.05
    text = generate_latest(registry_for(lambda: LoopView(loop))).decode()
    assert "aqmllm_fallback_episodes_total 1.0" in text
    assert "aqmllm_model_failures_total 1.0" in text
    # A second failure is a second episode.
    loop.replace_policy(Fails())
    producer.enqueue(2)
    loop.step(now_ns=producer.now)
    assert loop.slot.episodes == 2 and int(ring.hdr["daemon_fallbacks"]) == 2
