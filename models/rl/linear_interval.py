"""A linear interval policy: the classic target scale from the newest record's features.

The smallest policy worth searching directly in closed loop (issue 16,
ablation (c): no teacher).  One linear map over the ``interval-v2``
features of a queue's newest interval record gives the log2 scale of
DualPI2's classic target, clipped to the kernel's range (x1/4..x2):

    target_log2 = clip(b + w . features, -2, +1)

19 parameters (18 weights and a bias), so CMA-ES makes progress on a
budget of a few hundred ns-3 runs.  Zero parameters write zero residuals:
the search starts at DualPI2 itself.  The target scale is the knob that
moves delay (DualPI2's PI integrator cancels a constant multiplier on its
probability); one of its features is the target scale in effect, so a
weight there makes the policy integrate.  Only DualPI2 queues take it
(the search never ran PIE or CoDel): other fallbacks get zero residuals.

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
from aqmllm.models.interval_features import feature_fn
from aqmllm.models.interval_runtime import OUTPUT_BOUNDS, save_interval_checkpoint

FEATURES = "interval-v2"
N_FEATURES = feature_fn(FEATURES)[1]
OUTPUTS = {"target": list(OUTPUT_BOUNDS["target"])}
USABLE = {"dualpi2": ["target"]}
ARCHITECTURE = {"name": "linear-target", "inputs": N_FEATURES, "outputs": list(OUTPUTS)}


class LinearTarget(nn.Module):
    """The searched module: its parameters are what CMA-ES moves (zero: DualPI2)."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(N_FEATURES, len(OUTPUTS), dtype=torch.float64))
        self.bias = nn.Parameter(torch.zeros(len(OUTPUTS), dtype=torch.float64))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        lo, hi = OUTPUTS["target"]
        return torch.clamp(features @ self.weight + self.bias, lo, hi)


def n_parameters() -> int:
    return sum(p.numel() for p in LinearTarget().parameters())


def tensors_of(module: LinearTarget) -> dict[str, np.ndarray]:
    """The interval-student MLP's tensors (one layer: l0.weight in x out, l0.bias)."""
    return {
        "l0.weight": module.weight.detach().cpu().numpy().astype(np.float32),
        "l0.bias": module.bias.detach().cpu().numpy().astype(np.float32),
    }


def save_policy(module: LinearTarget, folder: str | Path, training: dict[str, Any]) -> Path:
    return save_interval_checkpoint(
        folder,
        "interval-student",
        tensors_of(module),
        FEATURES,
        (1, N_FEATURES),
        levels=None,
        outputs=OUTPUTS,
        usable=USABLE,
        architecture=ARCHITECTURE,
        training=training,
    )
