"""Distillation into the student: from the experts, from a teacher, and the CLI's refusals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from aqmllm.models.distill import DistillConfig, distill
from aqmllm.models.distill_cli import main as distill_main
from aqmllm.models.pool import load_pool
from aqmllm.models.runtime import StudentPolicy, load_policy
from aqmllm.models.teacher import TeacherSpec
from aqmllm.models.train import TrainConfig, train_teacher

TINY = "tiny:hidden=32,layers=2,heads=4"


def test_student_learns_the_experts_and_keeps_its_name(
    synthetic_pool: Path, tmp_path: Path
) -> None:
    cfg = DistillConfig(hidden=(16, 16), epochs=8, seed=1)
    metrics = distill([str(synthetic_pool)], tmp_path / "s", None, cfg, name="my-student")
    assert metrics["parameters"] < 50_000
    # the experts pass most packets; the student must agree with them on most states
    assert metrics["val_argmax_agreement"] > 0.9
    manifest = json.loads((tmp_path / "s" / "manifest.json").read_text())
    assert manifest["training"]["name"] == "my-student"
    assert manifest["training"]["val_scenarios"]  # split by scenario, recorded
    policy = load_policy(tmp_path / "s")
    assert isinstance(policy, StudentPolicy) and policy.name == "my-student"
    recs = load_pool(synthetic_pool).records[:500]
    assert set(policy.decide(recs)) <= {1, 2, 3}


def test_teacher_labels_follow_the_return_it_is_asked_for(
    synthetic_pool: Path, tmp_path: Path
) -> None:
    train_teacher(
        [str(synthetic_pool)],
        TeacherSpec(backbone=TINY),
        TrainConfig(epochs=1, batch_size=64, max_steps_per_epoch=3, device="cpu"),
        tmp_path / "t",
        progress=False,
    )
    cfg = DistillConfig(hidden=(8,), epochs=1, max_states=400, target_return_percentile=10)
    m = distill([str(synthetic_pool)], tmp_path / "s", str(tmp_path / "t" / "best"), cfg)
    rtg = load_pool(synthetic_pool).rtg
    # the goal is a percentile of the training split's returns, so within the pool's range
    assert rtg.min() <= m["target_return"] <= np.percentile(rtg, 50)
    saved = json.loads((tmp_path / "s" / "manifest.json").read_text())
    assert saved["training"]["config"]["target_return_percentile"] == 10


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--hidden", "8,x"], "--hidden"),
        (["--hidden", "0"], "positive widths"),
        (["--target-return-percentile", "120"], "expected 0..100"),
    ],
)
def test_cli_refuses_bad_arguments(
    synthetic_pool: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    message: str,
) -> None:
    with pytest.raises(SystemExit) as exc:
        distill_main(["--pool", str(synthetic_pool), "--out", str(tmp_path / "s"), *args])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "s").exists()
