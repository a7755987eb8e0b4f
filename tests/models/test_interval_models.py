"""Interval-tier checkpoints: written with their mode, run by the daemon's
interval loop, and refused by name where the other tier's model is asked."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from aqmllm.bridge import layout
from aqmllm.daemon.interval_loop import IntervalLoop
from aqmllm.daemon.interval_policies import load_model
from aqmllm.daemon.policies import PolicyError, make_policy
from aqmllm.models.checkpoint import ModelError
from aqmllm.models.interval_history import IntervalHistory
from aqmllm.models.interval_runtime import load_interval_policy, save_interval_checkpoint
from aqmllm.models.runtime import load_policy

SHIPPED = Path(__file__).resolve().parents[2] / "models" / "shipped" / "student"
W, F = 4, 8
LEVELS = {
    "target": {"levels": [0.0, -1.0, 1.0], "unit": "log2"},
    "mult_c": {"levels": [0.0, -2.0, 2.0], "unit": "log2"},
    "mult_l": {"levels": [0.0, 1.0], "unit": "log2"},
    "step": {"levels": [0.0, 500.0, 2000.0], "unit": "us"},
}
USABLE = {
    "dualpi2": ["target", "mult_c", "mult_l", "step"],
    "pie": ["target", "mult_c", "mult_l"],
    "codel": ["target"],
}
TOTAL = sum(len(v["levels"]) for v in LEVELS.values())


def _student(folder: Path, features: str = "issue15-smoke", favour: tuple = (2, 2, 1, 2)) -> Path:
    """An MLP whose last bias picks the given level of each knob, whatever the state."""
    rng = np.random.default_rng(0)
    tensors = {
        "l0.weight": rng.normal(0, 0.01, (W * F, 16)).astype(np.float32),
        "l0.bias": np.zeros(16, np.float32),
        "l1.weight": rng.normal(0, 0.01, (16, TOTAL)).astype(np.float32),
        "l1.bias": np.zeros(TOTAL, np.float32),
    }
    off = 0
    for k, knob in enumerate(LEVELS):
        tensors["l1.bias"][off + favour[k]] = 10.0
        off += len(LEVELS[knob]["levels"])
    return save_interval_checkpoint(
        folder, "interval-student", tensors, features, (W, F), LEVELS, USABLE
    )


def test_an_interval_student_decides_per_queue_with_its_masks(tmp_path: Path) -> None:
    policy = load_interval_policy(_student(tmp_path / "m"))
    h = IntervalHistory(window=8)
    recs = np.zeros(3, layout.INTERVAL_DTYPE)
    recs["queue_id"] = [0, 1, 2]
    recs["fb_id"] = [layout.FALLBACKS[f] for f in ("dualpi2", "pie", "codel")]
    recs["interval_ns"] = 16_000_000
    recs["target_ns"] = 15_000_000
    h.update(recs)
    policy.bind_history(h)
    out = policy.residuals(recs)
    one = layout.RES_Q8_ONE
    assert out["res_log2_target"].tolist() == [one, one, one]
    assert out["res_log2_mult"].tolist() == [[2 * one, one], [2 * one, one], [0, 0]]
    assert out["res_step_us"].tolist() == [2000, 0, 0]  # PIE and CoDel have no step


def test_the_interval_loop_runs_a_checkpoint_into_the_core(tmp_path: Path, producer) -> None:
    from aqmllm.bridge.ring import Ring

    ring = Ring.open_shm(tmp_path / "ring")
    loop = IntervalLoop(ring, lambda: load_model(str(_student(tmp_path / "m"))))
    assert loop.policy is not None and loop.policy.history is loop.history
    for _ in range(40):
        producer.now += 1_000_000
        ring.last_clock_ns = producer.now
        ring.heartbeat()
        for item in producer.enqueue(2, ecn=1):
            producer.dequeue(item)
        loop.step(now_ns=producer.now)
    d = producer.queues[0].fb.dualpi2
    assert producer.queues[0].res_on and d.step_ns == 2_000_000 and d.mult_q24[0] == 4 << 24
    assert loop.stats.residuals >= 2 and loop.stats.late == 0
    ring.close()


def test_a_per_packet_model_is_refused_as_an_interval_model_by_name() -> None:
    with pytest.raises(ModelError, match="packet tier.*needs a interval model"):
        load_interval_policy(SHIPPED)
    with pytest.raises(PolicyError, match="mode 'packet'"):
        load_model(str(SHIPPED))


def test_an_interval_model_is_refused_as_a_per_packet_model_by_name(tmp_path: Path) -> None:
    path = _student(tmp_path / "m")
    with pytest.raises(ModelError, match="interval tier.*interval.model"):
        load_policy(path)
    with pytest.raises(PolicyError, match="mode 'interval'"):
        make_policy("model", str(path))


def test_unknown_features_and_shapes_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="'no-such-schema' is not in this build"):
        load_interval_policy(_student(tmp_path / "a", features="no-such-schema"))
    path = _student(tmp_path / "b")
    manifest = json.loads(path.read_text())
    manifest["interval"]["state_shape"] = [W, F + 1]
    path.write_text(json.dumps(manifest))
    with pytest.raises(ModelError, match="the MLP takes 32 inputs, state is 4x9"):
        load_interval_policy(path)
    manifest["interval"]["state_shape"] = [W, F]
    manifest["interval"]["levels"]["step"]["levels"] = [250.0, 500.0]
    path.write_text(json.dumps(manifest))
    with pytest.raises(ModelError, match="level 0 being 0"):
        load_interval_policy(path)


def test_an_interval_teacher_needs_issue_16s_module(tmp_path: Path) -> None:
    path = save_interval_checkpoint(
        tmp_path / "t", "interval-teacher", {"x": np.zeros(1, np.float32)}, "issue15-smoke",
        (W, F), LEVELS, USABLE,
    )  # fmt: skip
    try:
        import aqmllm.models.rl.teacher  # noqa: F401
    except ImportError:
        with pytest.raises(ModelError, match="models.rl.teacher"):
            load_interval_policy(path)
    else:
        pytest.skip("issue 16's teacher is in this build")
