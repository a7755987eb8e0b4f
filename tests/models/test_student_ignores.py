"""A policy that must not read its previous action: the student's and the teacher's ignored
feature columns change nothing, and the exported weights say so to any forward pass."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from aqmllm.models.interval_features import RESIDUAL_IN_EFFECT, V2_NAMES, columns_of
from aqmllm.models.rl.student import IntervalStudent, numpy_logits
from aqmllm.models.rl.teacher import IntervalTeacher, IntervalTeacherSpec
from aqmllm.models.rl.train_interval import main as train_student

COLS = columns_of(RESIDUAL_IN_EFFECT)


def _states(n: int = 32) -> np.ndarray:
    return np.random.default_rng(0).normal(size=(n, 4, len(V2_NAMES))).astype(np.float32)


def test_ignored_columns_change_neither_the_student_nor_its_export() -> None:
    torch.manual_seed(0)
    s = IntervalStudent((4, len(V2_NAMES)), (16,), tuple(COLS))
    x = _states()
    y = x.copy()
    y[:, :, COLS] += 5.0  # another residual in effect
    tensors = s.numpy_tensors()
    rows = np.arange(4 * len(V2_NAMES)).reshape(4, -1)[:, COLS].ravel()
    assert np.all(tensors["l0.weight"][rows] == 0) and np.any(tensors["l0.weight"] != 0)
    np.testing.assert_allclose(numpy_logits(tensors, x), numpy_logits(tensors, y), atol=1e-6)
    with torch.no_grad():
        np.testing.assert_allclose(s(torch.from_numpy(x)).numpy(), numpy_logits(tensors, x),
                                   atol=1e-5)  # fmt: skip
    # the other columns still matter
    z = x.copy()
    z[:, :, 0] += 5.0
    assert not np.allclose(numpy_logits(tensors, x), numpy_logits(tensors, z))


def test_the_teacher_ignores_the_same_columns() -> None:
    torch.manual_seed(0)
    spec = IntervalTeacherSpec([4, len(V2_NAMES)], backbone="tiny", d_enc=8, ignore=COLS)
    t = IntervalTeacher(spec).eval()
    torch.nn.init.normal_(t.head.weight)  # zero at birth: make the output depend on the input
    x = torch.from_numpy(_states(8))
    y = x.clone()
    y[:, :, COLS] -= 3.0
    with torch.no_grad():
        torch.testing.assert_close(t(x), t(y))
        z = x.clone()
        z[:, :, 1] -= 3.0
        assert not torch.allclose(t(x), t(z))


def test_an_unknown_feature_name_is_refused_by_name(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ValueError, match="no interval-v2 feature 'res_step'"):
        columns_of(["res_target", "res_step"])
    argv = ["--pool", "none.npz", "--out", "o", "--ignore-features", "res_step"]
    assert train_student(argv) == 2
    assert "res_step" in capsys.readouterr().err
