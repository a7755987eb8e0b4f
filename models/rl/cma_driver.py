"""Derivative-free fine-tuning of a student with CMA-ES (pycma) on an episode objective.

The search runs over a chosen subset of the module's parameters (all, or
those whose names start with given prefixes, e.g. the last layer), starting
from the distilled weights with a step size relative to their scale.  Each
generation scores every candidate on the same batch of scenarios (common
random numbers: the comparison inside a generation is paired), with the
objective the caller gives -- typically the mean episode score against
DualPI2 (models/rl/reward.py) from closed-loop runs.  Higher is better.

Every generation is checkpointed (``out/cma_state.pkl``: the strategy and
numpy's global random state, which pycma samples from), so a run resumes
where it stopped and continues exactly; the best candidate so far is kept
in ``out/cma_best.safetensors`` with ``out/cma_best.json``.
"""

from __future__ import annotations

import copy
import json
import math
import pickle
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn
from aqmllm.models.checkpoint import ModelError
from safetensors.torch import save_file

STATE_FILE = "cma_state.pkl"
BEST_WEIGHTS = "cma_best.safetensors"
BEST_META = "cma_best.json"

Objective = Callable[[nn.Module, Sequence[Any]], float]
PopulationObjective = Callable[[list[nn.Module], Sequence[Any]], list[float]]


@dataclass
class CMAConfig:
    generations: int = 30
    popsize: int = 0  # 0: pycma's default, 4 + 3 ln(dim)
    sigma: float = 0.0  # 0: 0.1 x the RMS of the searched parameters
    params: list[str] = field(default_factory=list)  # name prefixes; empty: every parameter
    diagonal: bool | None = None  # separable CMA; None: when the search has > 1000 dims
    batch_size: int = 0  # scenarios per generation; 0: all of them every generation
    seed: int = 1


@dataclass
class CMAResult:
    best_score: float
    best_generation: int
    generations: int
    dim: int
    history: list[dict[str, float]]


def searched_parameters(module: nn.Module, prefixes: list[str]) -> list[tuple[str, nn.Parameter]]:
    chosen = [
        (n, p)
        for n, p in module.named_parameters()
        if not prefixes or n.startswith(tuple(prefixes))
    ]
    if not chosen:
        names = ", ".join(n for n, _ in module.named_parameters())
        raise ValueError(f"no parameter matches {prefixes} (the module has: {names})")
    return chosen


def get_vector(params: list[tuple[str, nn.Parameter]]) -> np.ndarray:
    return np.concatenate([p.detach().cpu().numpy().ravel() for _, p in params]).astype(np.float64)


@torch.no_grad()
def set_vector(params: list[tuple[str, nn.Parameter]], x: np.ndarray) -> None:
    i = 0
    for _, p in params:
        n = p.numel()
        p.copy_(torch.as_tensor(x[i : i + n], dtype=p.dtype).view_as(p))
        i += n


def default_sigma(x0: np.ndarray) -> float:
    rms = float(np.sqrt(np.mean(x0**2))) if len(x0) else 0.0
    return max(0.1 * rms, 1e-3)


class CMADriver:
    def __init__(
        self,
        module: nn.Module,
        scenarios: Sequence[Any],
        cfg: CMAConfig,
        objective: Objective | None = None,
        population_objective: PopulationObjective | None = None,
        out: str | Path | None = None,
        log: Callable[[str], None] | None = print,
    ) -> None:
        import cma

        if (objective is None) == (population_objective is None):
            raise ValueError("give exactly one of objective and population_objective")
        if not scenarios:
            raise ValueError("CMA-ES needs at least one scenario to score candidates on")
        self.module, self.scenarios, self.cfg = module, list(scenarios), cfg
        self.objective, self.population_objective = objective, population_objective
        self.out = Path(out) if out is not None else None
        self.log = log or (lambda _m: None)
        self.params = searched_parameters(module, cfg.params)
        x0 = get_vector(self.params)
        self.dim = len(x0)
        diagonal = cfg.diagonal if cfg.diagonal is not None else self.dim > 1000
        opts: dict[str, Any] = {"seed": cfg.seed, "verbose": -9, "CMA_diagonal": bool(diagonal)}
        if cfg.popsize:
            opts["popsize"] = cfg.popsize
        self.es = cma.CMAEvolutionStrategy(x0, cfg.sigma or default_sigma(x0), opts)
        self.generation = 0
        self.best_score, self.best_generation = -math.inf, -1
        self.best_x = x0.copy()
        self.history: list[dict[str, float]] = []

    def _batch(self, generation: int) -> list[Any]:
        n, k = len(self.scenarios), self.cfg.batch_size
        if not k or k >= n:
            return self.scenarios
        idx = np.random.default_rng([self.cfg.seed, generation]).choice(n, k, replace=False)
        return [self.scenarios[i] for i in sorted(idx)]

    def _scores(self, xs: list[np.ndarray], batch: list[Any]) -> list[float]:
        if self.population_objective is not None:
            modules = []
            for x in xs:
                m = copy.deepcopy(self.module)
                set_vector(searched_parameters(m, self.cfg.params), x)
                modules.append(m)
            scores = list(self.population_objective(modules, batch))
        else:
            scores = []
            for x in xs:
                set_vector(self.params, x)
                scores.append(float(self.objective(self.module, batch)))  # type: ignore[misc]
        if len(scores) != len(xs) or not all(np.isfinite(scores)):
            raise ValueError(f"the objective returned {scores!r} for {len(xs)} candidates")
        return scores

    def step(self) -> dict[str, float]:
        t0 = time.perf_counter()
        xs = self.es.ask()
        scores = self._scores(xs, self._batch(self.generation))
        self.es.tell(xs, [-s for s in scores])  # pycma minimises
        top = int(np.argmax(scores))
        if scores[top] > self.best_score:
            self.best_score, self.best_generation = scores[top], self.generation
            self.best_x = np.asarray(xs[top]).copy()
            self._save_best()
        row = {
            "generation": float(self.generation),
            "best": float(scores[top]),
            "mean": float(np.mean(scores)),
            "best_ever": float(self.best_score),
            "sigma": float(self.es.sigma),
            "seconds": time.perf_counter() - t0,
        }
        self.history.append(row)
        self.generation += 1
        self.log(
            f"cma generation {self.generation}/{self.cfg.generations}: best {row['best']:.4g},"
            f" mean {row['mean']:.4g}, best ever {self.best_score:.4g}, sigma {row['sigma']:.3g},"
            f" {row['seconds']:.1f} s"
        )
        self._save_state()
        return row

    def run(self) -> CMAResult:
        while self.generation < self.cfg.generations:
            self.step()
        set_vector(self.params, self.best_x)  # leave the module at the best candidate
        return CMAResult(
            self.best_score, self.best_generation, self.generation, self.dim, self.history
        )

    # -- checkpoints -------------------------------------------------------------------------
    def _save_best(self) -> None:
        if self.out is None:
            return
        self.out.mkdir(parents=True, exist_ok=True)
        m = copy.deepcopy(self.module)
        set_vector(searched_parameters(m, self.cfg.params), self.best_x)
        save_file({k: v.contiguous() for k, v in m.state_dict().items()}, self.out / BEST_WEIGHTS)
        meta = {
            "score": self.best_score,
            "generation": self.best_generation,
            "searched": [n for n, _ in self.params],
            "dim": self.dim,
            "config": asdict(self.cfg),
        }
        (self.out / BEST_META).write_text(json.dumps(meta, indent=2) + "\n")

    def _save_state(self) -> None:
        if self.out is None:
            return
        self.out.mkdir(parents=True, exist_ok=True)
        state = {
            "es": self.es,
            "numpy_random": np.random.get_state(),
            "generation": self.generation,
            "best": (self.best_score, self.best_generation, self.best_x),
            "history": self.history,
            "dim": self.dim,
            "params": [n for n, _ in self.params],
        }
        tmp = self.out / (STATE_FILE + ".tmp")
        tmp.write_bytes(pickle.dumps(state))
        tmp.replace(self.out / STATE_FILE)

    def resume(self) -> bool:
        """Continue from out/cma_state.pkl if there is one (a file this driver wrote)."""
        path = self.out / STATE_FILE if self.out is not None else None
        if path is None or not path.exists():
            return False
        try:
            state = pickle.loads(path.read_bytes())
            params, dim = state["params"], state["dim"]
        except Exception as exc:  # a truncated or foreign file: say so, do not guess
            raise ModelError(f"{path}: cannot resume CMA-ES from this file: {exc}") from None
        if params != [n for n, _ in self.params] or dim != self.dim:
            raise ModelError(f"{path}: was searching other parameters ({dim} dims); start afresh")
        self.es = state["es"]
        np.random.set_state(state["numpy_random"])
        self.generation = int(state["generation"])
        self.best_score, self.best_generation, self.best_x = state["best"]
        self.history = list(state["history"])
        self.log(f"cma resumed at generation {self.generation}, best {self.best_score:.4g}")
        return True
