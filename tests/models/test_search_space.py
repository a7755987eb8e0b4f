"""CMA-ES's search spaces (models/rl/search_space.py): fine-tuning starts exactly at the
trained student, moves only the tensors asked, and saves candidates the daemon loads."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from aqmllm.daemon.interval_policies import parse_spec
from aqmllm.models.checkpoint import ModelError
from aqmllm.models.rl.cma_driver import get_vector, searched_parameters, set_vector
from aqmllm.models.rl.linear_interval import LinearTarget, save_policy
from aqmllm.models.rl.search_space import linear_space, student_space
from aqmllm.models.rl.student import numpy_logits
from safetensors.numpy import load_file

IT3 = Path(__file__).resolve().parents[2] / "models" / "closed-loop" / "it3"


def test_the_student_space_starts_at_the_checkpoint(tmp_path: Path) -> None:
    space = student_space(IT3, ["net.4.bias"])
    m = space.make()
    states = np.random.default_rng(0).normal(size=(64, 4, 18)).astype(np.float32)
    start = load_file(str(IT3 / "weights.safetensors"))
    with torch.no_grad():
        np.testing.assert_allclose(
            m(torch.from_numpy(states)).numpy(), numpy_logits(start, states), atol=1e-5
        )
    params = searched_parameters(m, space.params)
    assert [n for n, _ in params] == ["net.4.bias"] and len(get_vector(params)) == 27
    set_vector(params, get_vector(params) + 1.0)
    folder = space.save(m, tmp_path / "cand", {"name": "cand"}).parent
    moved = load_file(str(folder / "weights.safetensors"))
    np.testing.assert_allclose(moved["l2.bias"], start["l2.bias"] + 1.0, rtol=1e-6)
    for k in ("l0.weight", "l0.bias", "l1.weight", "l1.bias", "l2.weight"):
        np.testing.assert_array_equal(moved[k], start[k])
    manifest = json.loads((folder / "manifest.json").read_text())
    old = json.loads((IT3 / "manifest.json").read_text())
    assert manifest["interval"] == old["interval"]  # features, window, levels, fallbacks
    assert manifest["training"]["fine_tuned_from"]["name"] == "interval-iql-it3"
    assert manifest["training"]["fine_tuned_from"] == space.start
    parse_spec(f"model:{folder}")  # loads and passes the probe as the daemon would


def test_a_blind_start_stays_blind_whatever_the_search_moves(tmp_path: Path) -> None:
    blind = Path(__file__).resolve().parents[2] / "models" / "ablation" / "no-prev"
    space = student_space(blind, ["net.0.weight"])
    m = space.make()
    params = searched_parameters(m, space.params)
    set_vector(params, get_vector(params) + 0.5)  # every first-layer weight moves
    folder = space.save(m, tmp_path / "cand", {"name": "cand"}).parent
    w = load_file(str(folder / "weights.safetensors"))["l0.weight"]  # (4 x 18) x 64
    assert np.all(w.reshape(4, 18, -1)[:, 14:17] == 0) and np.all(w.reshape(4, 18, -1)[:, 0] != 0)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["architecture"]["ignores"] == ["res_mult_c", "res_mult_l", "res_target"]


def test_only_a_level_answering_mlp_student_can_be_fine_tuned(tmp_path: Path) -> None:
    linear = save_policy(LinearTarget(), tmp_path / "lin", {"name": "lin"}).parent
    with pytest.raises(ModelError, match="interval student answering with levels"):
        student_space(linear, [])
    with pytest.raises(ModelError, match="no model manifest"):
        student_space(tmp_path / "none", [])
    space = linear_space()
    assert space.name == "linear" and not space.params
    assert all(float(p.abs().sum()) == 0 for p in space.make().parameters())  # DualPI2
