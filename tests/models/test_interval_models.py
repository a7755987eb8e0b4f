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
from aqmllm.models.checkpoint import ModelError, read_manifest, seal_checkpoint
from aqmllm.models.interval_history import IntervalHistory
from aqmllm.models.interval_probe import canonical_windows, probe_interval_policy
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


def _tensors(favour: tuple = (2, 2, 1, 2), congested_target: int | None = 1) -> dict:
    """An MLP whose last bias picks the given level of each knob on a queue at rest; with
    congested_target, a C delay over target (feature 0 of the newest row) picks that target
    level instead, as a model that reads its state would."""
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
    if congested_target is not None:
        tensors["l0.weight"][(W - 1) * F, 0] = 5.0
        tensors["l1.weight"][0, congested_target] = 20.0
    return tensors


def _student(folder: Path, features: str = "issue15-smoke", **kw) -> Path:
    return save_interval_checkpoint(
        folder, "interval-student", _tensors(**kw), features, (W, F), LEVELS, USABLE
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


def test_an_interval_teacher_checkpoint_loads_and_decides_as_trained(tmp_path: Path) -> None:
    # The interval teacher (issue 16) saved with its trained tensors only (encoder, head, LoRA):
    # the daemon's loader rebuilds it and gives the same logits; a manifest whose architecture
    # does not fit the tensors is refused by name.
    import torch
    from aqmllm.models.rl.teacher import IntervalTeacher, IntervalTeacherSpec, save_interval_teacher

    spec = IntervalTeacherSpec(state_shape=[W, F], backbone="tiny:hidden=32,layers=2,heads=4")
    teacher = IntervalTeacher(spec).eval()
    with torch.no_grad():  # trained-looking: not the zero head it starts with
        teacher.head.bias.copy_(torch.linspace(-1.0, 1.0, teacher.head.bias.numel()))
        teacher.head.weight.normal_(0.0, 0.5)
    path = save_interval_teacher(tmp_path / "t", teacher, "issue15-smoke", USABLE)
    manifest, folder = read_manifest(path, mode="interval")
    assert not any(k.startswith("backbone.") and "lora_" not in k for k in manifest["tensors"])
    policy = load_interval_policy(path)
    states = np.random.default_rng(1).normal(size=(3, W, F)).astype(np.float32)
    with torch.no_grad():
        want = teacher(torch.from_numpy(states)).numpy()
    np.testing.assert_allclose(policy._forward(states), want, rtol=1e-5, atol=1e-6)
    manifest["architecture"]["teacher"]["d_enc"] = 64
    (folder / "manifest.json").write_text(json.dumps(manifest))
    seal_checkpoint(folder)
    with pytest.raises(ModelError, match="the architecture wants"):
        load_interval_policy(path)


# ---- sealing (issue 18) and the load-time probe, for the interval tier ----


def test_an_interval_checkpoint_is_sealed_and_a_flipped_byte_refused(tmp_path: Path) -> None:
    path = _student(tmp_path / "m")
    manifest, _ = read_manifest(path, mode="interval")
    assert manifest["format"] == 2 and manifest["mode"] == "interval"
    assert manifest["tensors"]["l0.weight"] == {"dtype": "<f4", "shape": [W * F, 16]}
    weights = tmp_path / "m" / "weights.safetensors"
    data = bytearray(weights.read_bytes())
    data[-5] ^= 0x40
    weights.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="SHA-256 .* differs"):
        load_interval_policy(path)


def test_sealing_an_interval_checkpoint_keeps_its_mode(tmp_path: Path) -> None:
    path = _student(tmp_path / "m")
    manifest = json.loads(path.read_text())
    for key in ("format", "files", "tensors"):
        del manifest[key]
    path.write_text(json.dumps(manifest))
    with pytest.raises(ModelError, match="format None carries no checksums"):
        load_interval_policy(path)
    seal_checkpoint(tmp_path / "m")
    sealed, _ = read_manifest(path, mode="interval")
    assert sealed["mode"] == "interval" and sealed["format"] == 2
    assert load_interval_policy(path).window == W
    with pytest.raises(ModelError, match="mode 'nonsense' is none of packet, interval"):
        manifest["mode"] = "nonsense"
        path.write_text(json.dumps(manifest))
        seal_checkpoint(tmp_path / "m")


def test_the_probe_passes_a_model_that_reads_its_state(tmp_path: Path) -> None:
    policy = load_interval_policy(_student(tmp_path / "m"))
    r = probe_interval_policy(policy)
    assert r.states == 15 and r.distinct >= 2 and r.nonzero == 15
    assert policy.history is None  # the probe's history is its own


def test_the_probe_refuses_one_residual_whatever_the_load(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="load-time probe.*same residual.*whatever the load"):
        load_model(str(_student(tmp_path / "m", congested_target=None)))


def test_the_probe_accepts_zero_everywhere(tmp_path: Path) -> None:
    policy = load_interval_policy(
        _student(tmp_path / "m", favour=(0, 0, 0, 0), congested_target=None)
    )
    assert probe_interval_policy(policy).nonzero == 0  # the fallback exactly


def test_the_probe_refuses_levels_outside_the_kernels_bounds(tmp_path: Path) -> None:
    levels = {**LEVELS, "mult_c": {"levels": [0.0, -2.0, 4.0], "unit": "log2"}}  # x16
    path = save_interval_checkpoint(
        tmp_path / "m", "interval-student", _tensors(), "issue15-smoke", (W, F), levels, USABLE
    )
    with pytest.raises(PolicyError, match="multipliers outside x1/8..x8"):
        load_model(str(path))


def test_the_probe_refuses_non_finite_answers(tmp_path: Path) -> None:
    policy = load_interval_policy(_student(tmp_path / "m"))

    def broken(states: np.ndarray) -> np.ndarray:
        return np.full((len(states), TOTAL), np.nan, np.float32)

    policy._forward = broken
    with pytest.raises(ModelError, match="non-finite output"):
        probe_interval_policy(policy)


def test_canonical_interval_states_span_the_loads_of_every_fallback() -> None:
    recs, names = canonical_windows(3)
    assert len(recs) == 3 * len(names) and len(names) == 15
    assert {fb for fb, _ in names} == set(layout.FALLBACKS)
    last = recs[-len(names) :]
    delay = last["cls"]["sojourn_mean_ns"][:, layout.CLASS_C] / last["target_ns"]
    assert delay.min() == 0 and delay.max() == 20
    assert (last["flags"] & layout.INTERVAL_FLAGS["overload"]).sum() > 0


def test_aqmllm_model_check_probes_either_tier(tmp_path: Path, capsys) -> None:
    from aqmllm.models.model_cli import main

    path = _student(tmp_path / "m")
    assert main(["check", str(path), str(SHIPPED)]) == 0
    out = capsys.readouterr().out
    assert (
        "interval model interval-student; probe: 6 distinct residuals over 15 queue states" in out
    )
    assert "empty queue passes" in out  # the per-packet probe for the shipped student
    assert main(["check", str(_student(tmp_path / "c", congested_target=None))]) == 2
    assert "whatever the load" in capsys.readouterr().err
