"""The LLM teacher's pipeline (issue 16, items 4 and 7): IQL policy extraction over a
reused critic, distillation into the student, and provenance from pool to student."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from aqmllm.models.backbone import load_backbone
from aqmllm.models.checkpoint import ModelError, sha256_hex
from aqmllm.models.rl.heads import greedy
from aqmllm.models.rl.pool import load_interval_pool, write_interval_pool
from aqmllm.models.rl.student import numpy_logits
from aqmllm.models.rl.teacher import load_interval_teacher
from aqmllm.models.rl.train_interval import main as train_student
from aqmllm.models.rl.train_teacher import distill_rows
from aqmllm.models.rl.train_teacher import main as train_teacher
from rl_helpers import SCHEMA, toy_episodes
from safetensors.numpy import load_file

TINY = "tiny:hidden=32,layers=2,heads=4"


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A toy pool, a student run whose critic the teacher reuses, then the teacher's run."""
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("teacher")
    pool = write_interval_pool(root / "toy.npz", toy_episodes(8, 400), SCHEMA)
    assert train_student(["--pool", str(pool), "--out", str(root / "iql"), "--seed", "1",
                          "--critic-steps", "1500", "--policy-steps", "1"]) == 0  # fmt: skip
    argv = [
        "--pool", str(pool), "--out", str(root / "t"), "--backbone", TINY, "--seed", "1",
        "--critic-from", str(root / "iql" / "iql" / "iql_state.pt"), "--policy-steps", "300",
        "--batch-size", "64", "--beta", "5", "--lr", "1e-3", "--eval-every", "100",
        "--distill-states", "2000",
        "--distill-steps", "600",
    ]  # fmt: skip
    assert train_teacher(argv) == 0
    return pool, root / "t"


def test_the_student_takes_the_teachers_choices(trained) -> None:
    """Distillation keeps the teacher's policy: the student's greedy levels are the
    teacher's on the pool's states (the teacher loaded as the daemon's runtime would)."""
    pool_path, out = trained
    pool = load_interval_pool(pool_path)
    manifest = json.loads((out / "teacher" / "manifest.json").read_text())
    teacher = load_interval_teacher(manifest, out / "teacher")
    tensors = load_file(str(out / "student" / "weights.safetensors"))
    states, valid = pool.states[:1000], torch.as_tensor(pool.valid[:1000])
    by_teacher = greedy(torch.as_tensor(teacher(states)), valid).numpy()
    by_student = greedy(torch.as_tensor(numpy_logits(tensors, states)), valid).numpy()
    assert (by_student == by_teacher).all(axis=1).mean() > 0.9
    # only the policy trained (the critic was reused), for the steps asked
    history = json.loads((out / "teacher_history.json").read_text())
    assert {h["phase"] for h in history} == {"policy"} and history[-1]["step"] == 300


def test_the_students_manifest_names_its_teacher_pools_and_critic(trained) -> None:
    pool_path, out = trained
    s = json.loads((out / "student" / "manifest.json").read_text())["training"]
    t = json.loads((out / "teacher" / "manifest.json").read_text())
    assert t["kind"] == "interval-teacher" and t["architecture"]["teacher"]["backbone"] == TINY
    teacher_weights = (out / "teacher" / "weights.safetensors").read_bytes()
    assert s["teacher"]["weights_sha256"] == sha256_hex(teacher_weights)
    assert s["teacher"]["backbone"] == TINY
    assert s["pools"] == [{"path": str(pool_path), "sha256": sha256_hex(pool_path.read_bytes())}]
    assert t["training"]["pools"] == s["pools"] and s["critic_from"] == t["training"]["critic_from"]
    assert s["distill"]["states"] == 2000 and s["distill"]["final_kl"] >= 0
    # only the trained tensors are stored: no backbone weight beside the LoRA adapters
    names = load_file(str(out / "teacher" / "weights.safetensors")).keys()
    assert any("lora" in n for n in names) and any(n.startswith("head.") for n in names)
    assert not any("embed_tokens" in n for n in names)


def test_distillation_rows_are_a_seeded_sample_without_repeats() -> None:
    a, b = distill_rows(10_000, 500, 3), distill_rows(10_000, 500, 3)
    assert (a == b).all() and len(np.unique(a)) == 500 and (np.diff(a) > 0).all()
    assert not (a == distill_rows(10_000, 500, 4)).all()
    assert len(distill_rows(100, 500, 3)) == 100


def test_a_missing_critic_is_one_clear_sentence(
    trained, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pool_path, _ = trained
    argv = ["--pool", str(pool_path), "--out", str(tmp_path), "--backbone", TINY,
            "--critic-from", str(tmp_path / "none.pt")]  # fmt: skip
    assert train_teacher(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("train_teacher:") and "cannot reuse its critic" in err
    assert len(err.splitlines()) == 1


def test_random_backbone_spec_refuses_unknown_options() -> None:
    with pytest.raises(ModelError, match="the only option is seed=N"):
        load_backbone("smollm2-random:layers=2")
