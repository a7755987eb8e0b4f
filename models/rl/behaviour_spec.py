"""Behaviour policies by name, so a closed-loop run can collect with one:
``interval:behaviour:NAME,seed=S[,model=PATH]`` in ``aqmllm evaluate`` or a
collection campaign.

Names (every one is DualPI2's residual space; PIE and CoDel queues get
what their fallback accepts, models/rl/policy_api.restrict_to_valid):

- ``fallback``            -- zero residuals (the reference episodes of a pool);
- ``randomised``          -- a classic with random target, gains and step (constant);
- ``perturbed``           -- DualPI2 with bounded random excursions held for 4-32 intervals;
- ``perturbed-randomised``-- both: excursions around a randomised classic;
- ``adaptive-perturbed``  -- the hand-written adaptive target with one-level excursions;
- ``model-perturbed``     -- an interval checkpoint's greedy levels (``model=PATH``; a
                             continuous one's values as their nearest levels) with
                             one-level excursions: iteration 2 on collects around the
                             current student;
- ``static-target``       -- DualPI2 at one other target (a level drawn by the seed), held;
- ``static-target-perturbed`` -- that, with one-level excursions.

The seed fixes every random choice (per queue), so a pool episode can be
replayed from its scenario, seed and this name.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from aqmllm.models.rl import levels
from aqmllm.models.rl.adaptive import AdaptiveTarget
from aqmllm.models.rl.behaviour import Perturbed, randomised_classic
from aqmllm.models.rl.policy_api import (
    ConstantResidual,
    Fallback,
    IntervalPolicy,
    restrict_to_valid,
)

FALLBACK = "dualpi2"  # the interval tier's fallback in collection runs


class ModelLevels:
    """An interval checkpoint's greedy levels behind the behaviour protocol (act/describe)."""

    def __init__(self, path: str) -> None:
        from aqmllm.models.interval_runtime import load_interval_policy

        self.path = path
        self.model = load_interval_policy(path)
        self.name = f"model({self.model.name})"

    def describe(self) -> dict[str, Any]:
        return {"name": "model", "path": self.path, "policy": self.model.name}

    def reset(self) -> None:
        self.model.reset()

    def bind_history(self, history: Any) -> None:
        self.model.bind_history(history)

    def act(self, records: np.ndarray) -> np.ndarray:
        if not self.model.outputs:
            return self.model.levels(records)
        # a continuous student (CMA-ES's): each knob's value as its nearest level
        v = self.model.values_of(records)
        out = levels.nearest_levels(v[:, 0], v[:, 1], v[:, 2], v[:, 3])
        return restrict_to_valid(out, records["fb_id"])


def static_target(seed: int) -> ConstantResidual:
    """DualPI2 at one other classic target for the whole episode, drawn by the seed: the
    static sweep the judge holds a policy to, as a behaviour."""
    rng = np.random.default_rng([seed, 17])
    base = np.zeros(levels.N_KNOBS, np.int64)
    base[levels.TARGET] = int(rng.integers(1, levels.N_LEVELS[levels.TARGET]))
    return ConstantResidual(base, "static-target", {"seed": seed})


Maker = Callable[[int, dict[str, str]], IntervalPolicy]
BEHAVIOURS: dict[str, Maker] = {
    "fallback": lambda seed, kw: Fallback(),
    "randomised": lambda seed, kw: randomised_classic(FALLBACK, seed),
    "perturbed": lambda seed, kw: Perturbed(Fallback(), seed),
    "perturbed-randomised": lambda seed, kw: Perturbed(randomised_classic(FALLBACK, seed), seed),
    "adaptive-perturbed": lambda seed, kw: Perturbed(AdaptiveTarget(), seed, max_shift=1),
    "model-perturbed": lambda seed, kw: Perturbed(ModelLevels(kw["model"]), seed, max_shift=1),
    "static-target": lambda seed, kw: static_target(seed),
    "static-target-perturbed": lambda seed, kw: Perturbed(static_target(seed), seed, max_shift=1),
}
NEEDS = {"model-perturbed": ("model",)}


def make_behaviour(spec: str) -> IntervalPolicy:
    """``NAME,seed=S[,model=PATH]`` -> the behaviour policy; ValueError names what is wrong."""
    name, _, rest = spec.partition(",")
    if name not in BEHAVIOURS:
        raise ValueError(f"behaviour {name!r}: one of {', '.join(BEHAVIOURS)}")
    kw: dict[str, str] = {}
    for item in filter(None, rest.split(",")):
        key, eq, value = item.partition("=")
        if not eq or key not in ("seed", "model"):
            raise ValueError(f"behaviour {spec!r}: options are seed=N and model=PATH")
        kw[key] = value
    try:
        seed = int(kw.get("seed", "0"))
    except ValueError:
        raise ValueError(f"behaviour {spec!r}: seed={kw['seed']!r} is not an integer") from None
    missing = [k for k in NEEDS.get(name, ()) if not kw.get(k)]
    if missing:
        raise ValueError(f"behaviour {name!r} needs {missing[0]}=...")
    return BEHAVIOURS[name](seed, kw)
