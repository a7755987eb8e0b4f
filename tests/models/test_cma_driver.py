"""CMA-ES fine-tuning: finds a known optimum, searches only what it is told, resumes exactly."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn
from aqmllm.models.checkpoint import ModelError
from aqmllm.models.rl.cma_driver import CMAConfig, CMADriver, get_vector, searched_parameters
from safetensors.torch import load_file

TARGET_W = torch.tensor([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]])
TARGET_B = torch.tensor([0.3, -0.2])


def _module() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 2))


def _scenarios() -> list[torch.Tensor]:
    """Each 'scenario' is a batch of inputs; the score is minus the error to a known map."""
    g = torch.Generator().manual_seed(0)
    return [torch.randn(16, 3, generator=g) for _ in range(6)]


def _objective(module: nn.Module, batch) -> float:
    with torch.no_grad():
        err = [((module(x) - (x @ TARGET_W.T + TARGET_B)) ** 2).mean() for x in batch]
    return -float(torch.stack(err).mean())


def test_finds_the_known_optimum(tmp_path: Path) -> None:
    m = _module()
    cfg = CMAConfig(generations=80, sigma=0.5, batch_size=3, seed=3)
    result = CMADriver(m, _scenarios(), cfg, _objective, out=tmp_path, log=None).run()
    assert result.dim == 8 and result.generations == 80
    lin = m[0]
    torch.testing.assert_close(lin.weight.detach(), TARGET_W, atol=0.02, rtol=0)
    torch.testing.assert_close(lin.bias.detach(), TARGET_B, atol=0.02, rtol=0)
    assert result.best_score > -1e-3
    meta = json.loads((tmp_path / "cma_best.json").read_text())
    assert meta["score"] == pytest.approx(result.best_score) and meta["dim"] == 8
    saved = load_file(str(tmp_path / "cma_best.safetensors"))
    torch.testing.assert_close(saved["0.weight"], lin.weight.detach())


def test_searches_only_the_chosen_subset() -> None:
    m = _module()
    before = m[0].weight.detach().clone()
    start = _objective(m, _scenarios())
    cfg = CMAConfig(generations=40, params=["0.bias"], seed=1)
    drv = CMADriver(m, _scenarios(), cfg, _objective, log=None)
    assert drv.dim == 2
    drv.run()
    assert torch.equal(m[0].weight.detach(), before)
    assert _objective(m, _scenarios()) > start + 0.05  # the bias alone still helps
    with pytest.raises(ValueError, match="no parameter matches"):
        searched_parameters(m, ["nope"])


def test_population_objective_sees_every_candidate() -> None:
    seen: list[int] = []

    def population(modules, batch) -> list[float]:
        seen.append(len(modules))
        return [_objective(mod, batch) for mod in modules]

    m = _module()
    start = get_vector(searched_parameters(m, []))
    drv = CMADriver(
        m, _scenarios(), CMAConfig(generations=3, popsize=7), None, population, log=None
    )
    drv.run()
    assert seen == [7, 7, 7]
    assert not np.array_equal(get_vector(searched_parameters(m, [])), start)


def test_resume_continues_exactly(tmp_path: Path) -> None:
    cfg = CMAConfig(generations=12, batch_size=2, seed=5)
    a = CMADriver(
        _module(),
        _scenarios(),
        CMAConfig(**{**cfg.__dict__, "generations": 6}),
        _objective,
        out=tmp_path / "a",
        log=None,
    )
    a.run()
    resumed = CMADriver(_module(), _scenarios(), cfg, _objective, out=tmp_path / "a", log=None)
    assert resumed.resume() and resumed.generation == 6
    r = resumed.run()
    straight = CMADriver(_module(), _scenarios(), cfg, _objective, out=tmp_path / "b", log=None)
    s = straight.run()
    assert [h["best"] for h in r.history] == [h["best"] for h in s.history]
    np.testing.assert_array_equal(resumed.best_x, straight.best_x)


def test_bad_inputs_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least one scenario"):
        CMADriver(_module(), [], CMAConfig(), _objective, log=None)
    with pytest.raises(ValueError, match="exactly one"):
        CMADriver(_module(), _scenarios(), CMAConfig(), None, None, log=None)
    (tmp_path / "cma_state.pkl").write_bytes(b"\x80\x04junk")
    drv = CMADriver(_module(), _scenarios(), CMAConfig(), _objective, out=tmp_path, log=None)
    with pytest.raises(ModelError, match="cannot resume"):
        drv.resume()
    nan = CMADriver(
        _module(), _scenarios(), CMAConfig(generations=1), lambda m, b: float("nan"), log=None
    )
    with pytest.raises(ValueError, match="objective returned"):
        nan.run()
