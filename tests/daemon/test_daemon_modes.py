"""inference.mode as the daemon state builds it: the loops each mode runs, the interval loop
under the shared driver, slot and watchdog, reloads that change the mode or the interval
policy (built aside, all or nothing), and the metrics and snapshot of each mode."""

from __future__ import annotations

import shutil
import subprocess
import threading
from pathlib import Path

import numpy as np
import pytest
from aqmllm.bridge.ring import Ring
from aqmllm.daemon.config import ConfigError, load_config
from aqmllm.daemon.driver import hand_back_unread
from aqmllm.daemon.interval_loop import IntervalLoop, IntervalSettings
from aqmllm.daemon.interval_policies import FallbackResidual
from aqmllm.daemon.metrics import registry_for
from aqmllm.daemon.state import BuildError, activate, build_state, retire, swap
from aqmllm.daemon.telemetry import snapshot
from aqmllm.daemon.watchdog import Watchdog
from prometheus_client import generate_latest
from shm_producer import ShmProducer, wait_policy_off

MS = 1_000_000


@pytest.fixture
def ring(producer: ShmProducer, tmp_path: Path):
    r = Ring.open_shm(tmp_path / "ring")
    yield r
    r.close()


def _cfg(tmp_path: Path, *sets: str):
    quiet = ["telemetry.zmq_pub=", "telemetry.prometheus_port=0"]
    return load_config(None, [f"ring.path={tmp_path / 'ring'}", *quiet, *sets])


def _traffic(producer: ShmProducer, ring: Ring, ms: int = 40) -> None:
    """Packets in and out of both queues, one a millisecond, the heartbeat kept fresh."""
    for _ in range(ms):
        producer.now += MS
        ring.last_clock_ns = producer.now
        ring.heartbeat()
        for q in (0, 1):
            for item in producer.enqueue(1, ecn=1, qi=q):
                producer.dequeue(item)


def _round(state, producer: ShmProducer) -> None:
    """What one round of the driver does: step every loop, hand back what none reads."""
    for loop in state.loops:
        loop.step(now_ns=producer.now)
    hand_back_unread(state.loops[0].ring, state.loops)


def _running(producer: ShmProducer, ring: Ring, tmp_path: Path, watchdog: Watchdog, *sets: str):
    """A daemon state that owns the ring and has decided one round of traffic."""
    state = build_state(_cfg(tmp_path, *sets), ring, watchdog, lambda: None)
    activate(state)
    _traffic(producer, ring)
    _round(state, producer)
    return state


@pytest.mark.parametrize(
    "mode, kinds",
    [("packet", ["packet"]), ("interval", ["interval"]), ("both", ["packet", "interval"])],
)
def test_each_mode_runs_its_loops(
    producer: ShmProducer, ring: Ring, tmp_path: Path, mode: str, kinds: list[str]
) -> None:
    state = build_state(
        _cfg(tmp_path, f"inference.mode={mode}", "inference.policy=pass"),
        ring, Watchdog(0.05), lambda: state,
    )  # fmt: skip
    assert [loop.kind for loop in state.loops] == kinds and state.mode == mode
    assert (state.loop is None) == (mode == "interval")
    assert (state.interval is None) == (mode == "packet")
    activate(state)
    assert ring.wants_intervals == (mode != "packet")
    _traffic(producer, ring)
    _round(state, producer)
    # Nothing is left for nobody: each ring read by its loop or handed back.
    assert ring.pending() == 0 and ring.pending_intervals() == 0
    if state.interval is not None:
        assert state.interval.stats.residuals > 0
    if state.loop is not None:
        assert state.loop.stats.verdicts > 0
    retire(state)


def test_a_reload_that_changes_the_mode_builds_the_interval_loop_aside(
    producer: ShmProducer, ring: Ring, tmp_path: Path
) -> None:
    watchdog = Watchdog(0.05)
    old = _running(producer, ring, tmp_path, watchdog, "inference.policy=pass")
    cfg = _cfg(tmp_path, "inference.policy=pass", "inference.mode=both",
               "interval.policy=constant", "interval.mult_c=1")  # fmt: skip
    new = build_state(cfg, ring, watchdog, lambda: None, previous=old)
    # Built aside: the running state still owns the ring.
    assert new.interval is not None and not ring.wants_intervals
    assert new.interval.timer not in watchdog.timers
    assert new.loop is not None and new.loop.stats is old.loop.stats  # counts carry over
    swap(old, new)
    assert ring.wants_intervals and new.interval.timer in watchdog.timers
    assert old.loop.timer not in watchdog.timers
    _traffic(producer, ring)
    _round(new, producer)
    assert new.interval.stats.nonzero > 0
    _traffic(producer, ring, 2)  # the packet path takes the residual at its next packet
    assert producer.queues[0].res_on and producer.queues[0].res.log2_mult[0] == 256
    # and back: the interval loop retires, interval records are handed back again
    back = build_state(_cfg(tmp_path, "inference.policy=pass"), ring, watchdog, lambda: None,
                       previous=new)  # fmt: skip
    swap(new, back)
    assert back.interval is None and not ring.wants_intervals
    _traffic(producer, ring)
    _round(back, producer)
    assert ring.pending_intervals() == 0
    retire(back)


def test_a_reload_whose_interval_policy_fails_keeps_the_running_state(
    producer: ShmProducer, ring: Ring, tmp_path: Path
) -> None:
    watchdog = Watchdog(0.05)
    old = _running(producer, ring, tmp_path, watchdog, "inference.mode=interval")
    cfg = _cfg(tmp_path, "inference.mode=interval", "interval.policy=model",
               f"interval.model={tmp_path / 'nope'}")  # fmt: skip
    with pytest.raises(BuildError, match="interval: cannot load the interval policy.*nope"):
        build_state(cfg, ring, watchdog, lambda: None, previous=old)
    assert old.interval is not None and old.interval.timer in watchdog.timers
    assert ring.wants_intervals
    retire(old)


def test_a_reload_keeps_the_queues_history_and_the_counts(
    producer: ShmProducer, ring: Ring, tmp_path: Path
) -> None:
    watchdog = Watchdog(0.05)
    old = _running(producer, ring, tmp_path, watchdog, "inference.mode=interval")
    seen = old.interval.history.filled(np.array([0, 1])).tolist()
    assert seen[0] >= 1
    cfg = _cfg(tmp_path, "inference.mode=interval", "interval.policy=constant",
               "interval.target=-1")  # fmt: skip
    new = build_state(cfg, ring, watchdog, lambda: None, previous=old)
    assert new.interval.history is old.interval.history
    assert new.interval.stats is old.interval.stats and new.interval.queues is old.interval.queues
    # a new window length starts a new history (the rows would not fit)
    other = build_state(_cfg(tmp_path, "inference.mode=interval", "interval.window=8"),
                        ring, watchdog, lambda: None, previous=old)  # fmt: skip
    assert other.interval.history is not old.interval.history
    retire(old)


def test_the_shared_watchdog_turns_a_hanging_interval_policy_off(
    producer: ShmProducer, ring: Ring
) -> None:
    release = threading.Event()

    class Hangs(FallbackResidual):
        name = "hangs"

        def residuals(self, records):
            release.wait(5)
            return super().residuals(records)

    watchdog = Watchdog(0.03)
    loop = IntervalLoop(ring, Hangs(), IntervalSettings(model_timeout_ms=30), watchdog=watchdog)
    assert loop.timer in watchdog.timers and loop.timer.limit_s == 0.03
    _traffic(producer, ring)
    watchdog.start()
    t = threading.Thread(target=loop.step, kwargs={"now_ns": producer.now}, daemon=True)
    t.start()
    try:
        wait_policy_off(ring)
        assert loop.slot.episodes == 1  # the episode opened while the call still hangs
    finally:
        release.set()
        t.join(5)
        watchdog.stop()
    assert loop.stats.timeouts == 1 and "took" in loop.off_reason
    assert loop.stats.residuals == 0  # the late answer was thrown away


def test_teacher_policies_need_the_per_packet_loop(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="teacher.mode = 'policies' reads the per-packet loop"):
        _cfg(tmp_path, "inference.mode=interval", "teacher.model=/some/teacher")


def _scrape(state) -> str:
    return generate_latest(registry_for(lambda: state)).decode()


def test_metrics_and_snapshot_of_each_mode(
    producer: ShmProducer, ring: Ring, tmp_path: Path
) -> None:
    texts, state, watchdog = {}, None, Watchdog(0.05)
    for mode in ("packet", "interval", "both"):
        old, state = state, build_state(
            _cfg(tmp_path, f"inference.mode={mode}", "inference.policy=pass",
                 "interval.policy=constant", "interval.mult_c=1"),
            ring, watchdog, lambda: None, previous=state,
        )  # fmt: skip
        if old is None:
            activate(state)
        else:
            swap(old, state)
        _traffic(producer, ring)
        _round(state, producer)
        text = texts[mode] = _scrape(state)
        assert f'mode="{mode}"' in text
        assert ("\naqmllm_batches_total" in text) == (mode != "interval")
        assert ("\naqmllm_interval_decisions_total" in text) == (mode != "packet")
        snap = snapshot(state)
        assert snap["mode"] == mode and ("records" in snap) == (mode != "interval")
        assert ("interval" in snap) == (mode != "packet")
    retire(state)
    text = texts["both"]
    assert 'interval_model="constant(c=+1)"' in text and 'model="pass"' in text
    assert 'aqmllm_interval_decisions_total{residual="nonzero"}' in text
    assert 'aqmllm_queue_residual_log2_multiplier{class="C",queue="0"} 1.0' in text
    assert "aqmllm_interval_model_latency_seconds_bucket" in text
    assert "aqmllm_ring_residuals_accepted_total" in text
    assert 'aqmllm_ring_residuals_clamped_total{knob="mult_c"}' in text
    promtool = shutil.which("promtool")
    if promtool is not None:  # the Debian package prometheus (make system-deps)
        for mode, t in texts.items():
            p = subprocess.run([promtool, "check", "metrics"], input=t, capture_output=True,
                               text=True)  # fmt: skip
            assert p.returncode == 0 and not (p.stdout + p.stderr).strip(), (mode, p.stdout)
