"""What ships after the closed loop (sim/interval_ship.py): the pick's rule, and a shipped
folder whose selection record matches the files it holds."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from aqmllm.models.checkpoint import sha256_hex
from aqmllm.models.interval_checkpoint import save_interval_checkpoint
from aqmllm.models.rl import levels
from aqmllm.models.rl.student import IntervalStudent
from aqmllm.models.rl.train_interval import usable_by_name
from aqmllm.sim.interval_ship import main, pick, ship


def _row(score: float, regressions: int) -> dict:
    return {"score": score, "regressions": regressions, "beats_dualpi2": 0.0}


def test_the_pick_is_the_best_score_then_fewer_regressions_then_the_earlier() -> None:
    table = {"a": _row(-0.1, 0), "b": _row(0.2, 3), "c": _row(0.2, 1), "d": _row(0.2, 1)}
    assert pick(table, ["a", "b", "c", "d"]) == "c"
    assert pick(table, ["a", "d", "c"]) == "d"
    assert pick({"x": _row(0.0, 0), "y": _row(-1e-9, 0)}, ["y", "x"]) == "y"  # a tie at 1e-6


def _checkpoint(folder: Path, training: dict) -> Path:
    s = IntervalStudent((4, 18), (8,))
    save_interval_checkpoint(folder, "interval-student", s.numpy_tensors(), "interval-v2",
                             (4, 18), levels.table(), usable_by_name(),
                             training=training)  # fmt: skip
    return folder


def test_shipping_copies_the_student_and_its_teacher_with_digests(tmp_path: Path) -> None:
    teacher = _checkpoint(tmp_path / "t", {"name": "teacher"})
    student = _checkpoint(tmp_path / "s", {"name": "s", "teacher": {"path": str(teacher)}})
    out = tmp_path / "ship"
    (out / "per-packet").mkdir(parents=True)  # e.g. --ship models/shipped by mistake
    with pytest.raises(ValueError, match="holds per-packet, which a previous ship did not write"):
        ship(student, out, {"picked": "s"})
    assert (out / "per-packet").exists()
    (out / "per-packet").rmdir()
    (out / "student").mkdir()  # an earlier ship's: replaced
    ship(student, out, {"picked": "s"})
    assert sorted(p.name for p in out.iterdir()) == ["selection.json", "student", "teacher"]
    sel = json.loads((out / "selection.json").read_text())
    assert sel["picked"] == "s"
    for who in ("student", "teacher"):
        data = (out / who / "weights.safetensors").read_bytes()
        assert sel["shipped"][f"{who}_sha256"] == sha256_hex(data)
    alone = _checkpoint(tmp_path / "alone", {"name": "alone"})
    ship(alone, out, {"picked": "alone"})
    assert not (out / "teacher").exists()
    assert json.loads((out / "selection.json").read_text())["shipped"]["teacher_sha256"] is None
    np.testing.assert_equal(
        (out / "student" / "weights.safetensors").read_bytes(),
        (alone / "weights.safetensors").read_bytes(),
    )


def test_a_loop_without_iterations_is_one_sentence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "iterations.json").write_text("[]")
    assert main(["--loop", str(tmp_path), "--ship", str(tmp_path / "ship")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"interval_ship: {tmp_path}/iterations.json: no iteration"
    assert not (tmp_path / "ship").exists()
    assert main(["--loop", str(tmp_path / "none"), "--ship", str(tmp_path / "ship")]) == 2
    assert "iterations.json" in capsys.readouterr().err
