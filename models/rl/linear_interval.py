"""A linear interval policy: the classic target scale from the newest record's features.

The smallest policy worth searching directly in closed loop (issue 16,
ablation (c): no teacher).  One linear map over the ``interval-v2``
features of a queue's newest interval record gives the log2 scale of
DualPI2's classic target, clipped to the kernel's range (x1/4..x2):

    target_log2 = clip(b + w . features, -2, +1)

19 parameters (18 weights and a bias), so CMA-ES makes progress on a
budget of a few hundred ns-3 runs; or fewer, over a named subset of the
``interval-v3`` or ``-v4`` columns (which add the queue's and the link's
idle time, the standing queue and the capacity's trend: what says where a
lower target is free).  Zero
parameters write zero residuals: the search starts at DualPI2 itself.
The target scale is the knob that moves delay (DualPI2's PI integrator
cancels a constant multiplier on its probability); one of its features is
the target scale in effect, so a weight there makes the policy integrate.
Only DualPI2 queues take it (the search never ran PIE or CoDel): other
fallbacks get zero residuals.

Saved as an interval-student checkpoint with continuous ``outputs``
(models/interval_runtime.py), so the daemon and ``interval:model:PATH``
in ns-3 load it like any other interval model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn
from aqmllm.models.interval_features import V2_NAMES, feature_fn
from aqmllm.models.interval_runtime import OUTPUT_BOUNDS, save_interval_checkpoint

FEATURES = "interval-v2"
N_FEATURES = feature_fn(FEATURES)[1]
OUTPUTS = {"target": list(OUTPUT_BOUNDS["target"])}
USABLE = {"dualpi2": ["target"]}
ARCHITECTURE = {"name": "linear-target", "inputs": N_FEATURES, "outputs": list(OUTPUTS)}


class LinearTarget(nn.Module):
    """The searched module: its parameters are what CMA-ES moves (zero: DualPI2).

    ``schema`` is the feature schema it reads (interval-v2, or interval-v3 with
    what says where a lower target is free); ``features`` the columns it may
    weigh (default: all of them, in the schema's order), so CMA-ES moves
    len(features) + 1 numbers and the others carry zero weight."""

    def __init__(self, schema: str = FEATURES, features: tuple[str, ...] | None = None) -> None:
        from aqmllm.models.interval_features import columns_of, schema_names

        super().__init__()
        names = tuple(schema_names(schema)) if features is None else tuple(features)
        if not names:
            raise ValueError("the linear policy needs at least one feature")
        self.schema, self.features = schema, names
        self.n_inputs = feature_fn(schema)[1]
        self.register_buffer("columns", torch.tensor(columns_of(list(names), schema)))
        self.weight = nn.Parameter(torch.zeros(len(names), len(OUTPUTS), dtype=torch.float64))
        self.bias = nn.Parameter(torch.zeros(len(OUTPUTS), dtype=torch.float64))

    def exported(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(weight over every column of the schema, bias): the one layer the daemon runs."""
        w = torch.zeros((self.n_inputs, len(OUTPUTS)), dtype=torch.float64)
        return w.index_add(0, self.columns, self.weight), self.bias

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        lo, hi = OUTPUTS["target"]
        w, b = self.exported()
        return torch.clamp(features @ w + b, lo, hi)


def n_parameters() -> int:
    return sum(p.numel() for p in LinearTarget().parameters())


def _tensors(weight: torch.Tensor, bias: torch.Tensor) -> dict[str, np.ndarray]:
    """The interval-student MLP's tensors (one layer: l0.weight in x out, l0.bias)."""
    return {
        "l0.weight": weight.detach().cpu().numpy().astype(np.float32),
        "l0.bias": bias.detach().cpu().numpy().astype(np.float32),
    }


def tensors_of(module: LinearTarget) -> dict[str, np.ndarray]:
    return _tensors(*module.exported())


def _save_one_layer(
    folder: str | Path,
    tensors: dict[str, np.ndarray],
    architecture: dict[str, Any],
    training: dict[str, Any],
    schema: str = FEATURES,
    outputs: dict[str, list[float]] | None = None,
) -> Path:
    """Both forms are the same one-layer continuous interval student on disk."""
    return save_interval_checkpoint(
        folder,
        "interval-student",
        tensors,
        schema,
        (1, feature_fn(schema)[1]),
        levels=None,
        outputs=outputs or OUTPUTS,
        usable=USABLE,
        architecture=architecture,
        training=training,
    )


def save_policy(module: LinearTarget, folder: str | Path, training: dict[str, Any]) -> Path:
    from aqmllm.models.interval_features import NAMES

    arch = {**ARCHITECTURE, "inputs": module.n_inputs}
    if list(module.features) != NAMES[module.schema]:  # a subset: say which columns it weighs
        arch["searched_features"] = list(module.features)
    return _save_one_layer(folder, tensors_of(module), arch, training, module.schema)


# --- the integrating form ---------------------------------------------------
#
# The linear policy answers an absolute target scale, so holding a setting
# needs the features to say so in every interval; the search found that hard
# (docs/learning/cma-interval.md: sigma never contracted).  The integrating
# form moves the target scale in effect by a small step each interval:
#
#     target_log2 = clip(res_target + (b + w . (x - c) / s) / RATE_SCALE, -2, ceiling)
#
# (c, s: the inputs' standardisation, 0 and 1 unless taken from pools), so
# its fixed points are where b + w . (x - c) / s = 0 (a learned set point, e.g. on
# the busy fraction), and zero parameters hold the residual in effect: from
# DualPI2's zero it stays DualPI2.  One searched unit is 1/RATE_SCALE octave
# per interval per unit of standardised input (about 1.5 octaves a second at
# 16 ms), so
# CMA-ES's sigma means the same for every parameter.  It exports as the same
# one-layer student: weight = e_res_target + w / (s RATE_SCALE).

RATE_SCALE = 32.0
RES_TARGET_COLUMN = V2_NAMES.index("res_target")  # the scale in effect, in octaves
INTEGRAL_ARCHITECTURE = {
    "name": "integral-target",
    "inputs": N_FEATURES,
    "outputs": list(OUTPUTS),
    "rate_scale": RATE_SCALE,
}


class IntegralTarget(nn.Module):
    """The searched module of the integrating form (zero: hold what is in effect).

    ``features`` names the columns of ``schema`` (interval-v2, -v3 or -v4)
    it may read (default: all of v2's but the target in effect, which is the
    integrator itself); the others carry zero weight and are not searched, so
    CMA-ES moves len(features) + 1 numbers.  ``center`` and ``scale``
    standardise those inputs (by default 0 and 1; :func:`pool_standardisation`
    takes them from behaviour pools), so a searched weight means 1/RATE_SCALE
    octave per interval per spread of its feature, and the zero step sits at
    the centre: with the bias alone it drifts, with a weight alone it holds
    where the feature is typical.  ``ceiling`` is the highest target scale it
    may answer, in octaves (the kernel's +1 by default; 0 never raises the
    target above the classic one, so delay is only ever traded downwards)."""

    def __init__(
        self,
        features: tuple[str, ...] | None = None,
        center: tuple[float, ...] | None = None,
        scale: tuple[float, ...] | None = None,
        schema: str = FEATURES,
        ceiling: float | None = None,
    ) -> None:
        from aqmllm.models.interval_features import columns_of, schema_names

        super().__init__()
        schema_names(schema)  # an unknown schema, before the default names are taken
        names = tuple(n for n in V2_NAMES if n != "res_target") if features is None else features
        if not names:
            raise ValueError("the integrating policy needs at least one feature")
        if "res_target" in names:
            raise ValueError("res_target is the integrator itself: it cannot be a searched input")
        cols = columns_of(list(names), schema)
        center = center if center is not None else (0.0,) * len(names)
        scale = scale if scale is not None else (1.0,) * len(names)
        if len(center) != len(names) or len(scale) != len(names) or min(scale, default=1) <= 0:
            raise ValueError("standardisation: one centre and one positive scale per feature")
        hi = OUTPUTS["target"][1]
        top = hi if ceiling is None else float(ceiling)
        if not 0.0 <= top <= hi:
            raise ValueError(f"the target ceiling is {top:g} octaves; it must lie in [0, {hi:g}]")
        self.schema, self.features, self.ceiling = schema, names, top
        self.n_inputs = feature_fn(schema)[1]
        self.register_buffer("columns", torch.tensor(cols, dtype=torch.long))
        self.register_buffer("center", torch.tensor(center, dtype=torch.float64))
        self.register_buffer("scale", torch.tensor(scale, dtype=torch.float64))
        self.weight = nn.Parameter(torch.zeros(len(names), len(OUTPUTS), dtype=torch.float64))
        self.bias = nn.Parameter(torch.zeros(len(OUTPUTS), dtype=torch.float64))

    def outputs(self) -> dict[str, list[float]]:
        """The answer's range as the manifest states it (the runtime clips to it)."""
        return {"target": [OUTPUTS["target"][0], self.ceiling]}

    def exported(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(weight, bias) of the one-layer map over all the schema's features that the
        daemon runs: res_target + (b + w . (x - center) / scale) / RATE_SCALE."""
        per_unit = self.weight / self.scale[:, None]
        w = torch.zeros((self.n_inputs, len(OUTPUTS)), dtype=torch.float64)
        w[RES_TARGET_COLUMN, 0] = 1.0
        w = w.index_add(0, self.columns, per_unit / RATE_SCALE)
        b = (self.bias - self.center @ per_unit) / RATE_SCALE
        return w, b

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        w, b = self.exported()
        return torch.clamp(features @ w + b, OUTPUTS["target"][0], self.ceiling)


def pool_standardisation(
    pools: list[str | Path], features: tuple[str, ...]
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(center, scale) of features over the newest state row of behaviour pools:
    the median, and the 10-90 % range over 2.56 (a standard deviation where the
    feature is normal; the tails of signal and rate features are heavy), or the
    standard deviation where that range is empty, or 1 for a constant."""
    from aqmllm.models.interval_features import columns_of
    from aqmllm.models.rl.pool import PoolError, load_interval_pool

    cols = columns_of(list(features))
    rows = []
    for p in pools:
        try:
            pool = load_interval_pool(p)
        except PoolError as exc:
            raise ValueError(f"not a behaviour pool: {exc}") from None
        if pool.state_schema.get("features") != FEATURES:
            raise ValueError(f"{p}: its states are not {FEATURES} features")
        rows.append(np.asarray(pool.states[:, -1, :], np.float64)[:, cols])
    x = np.concatenate(rows)
    lo, med, hi = np.percentile(x, [10, 50, 90], axis=0)
    spread = (hi - lo) / 2.56
    spread = np.where(spread > 1e-6, spread, x.std(axis=0))
    spread = np.where(spread > 1e-6, spread, 1.0)
    return tuple(float(v) for v in med), tuple(float(v) for v in spread)


def save_integral_policy(
    module: IntegralTarget, folder: str | Path, training: dict[str, Any]
) -> Path:
    w, b = module.exported()
    arch = {
        **INTEGRAL_ARCHITECTURE,
        "inputs": module.n_inputs,
        "searched_features": list(module.features),
        "center": [float(v) for v in module.center],
        "scale": [float(v) for v in module.scale],
        "ceiling": module.ceiling,
    }
    return _save_one_layer(folder, _tensors(w, b), arch, training, module.schema, module.outputs())
