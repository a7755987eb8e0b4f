"""The interval student: an MLP from the state window to per-knob residual logits.

Small enough for a numpy or C forward pass per queue per interval.  Its
weights export in the per-packet student's layout (``l{i}.weight`` as
in x out, ReLU between), so the daemon's forward code can serve both.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn as nn
from aqmllm.models.rl.levels import TOTAL_LEVELS


class IntervalStudent(nn.Module):
    def __init__(self, state_shape: tuple[int, ...], hidden: tuple[int, ...] = (64, 64)) -> None:
        super().__init__()
        self.state_shape = tuple(state_shape)
        self.hidden = tuple(hidden)
        dims = [math.prod(self.state_shape), *hidden, TOTAL_LEVELS]
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(dims, dims[1:], strict=False)):
            layers.append(nn.Linear(a, b))
            if i < len(dims) - 2:
                layers.append(nn.ReLU())
        self.net = nn.Sequential(*layers)

    def forward(self, states: torch.Tensor) -> torch.Tensor:
        return self.net(states.flatten(1))

    def numpy_tensors(self) -> dict[str, np.ndarray]:
        linears = [m for m in self.net if isinstance(m, nn.Linear)]
        out = {}
        for i, m in enumerate(linears):
            out[f"l{i}.weight"] = m.weight.detach().cpu().numpy().T.copy()
            out[f"l{i}.bias"] = m.bias.detach().cpu().numpy().copy()
        return out


def numpy_logits(tensors: dict[str, np.ndarray], states: np.ndarray) -> np.ndarray:
    """The same forward pass in numpy (float32), as a daemon would run it."""
    h = states.reshape(len(states), -1).astype(np.float32)
    i = 0
    while f"l{i}.weight" in tensors:
        h = h @ tensors[f"l{i}.weight"] + tensors[f"l{i}.bias"]
        i += 1
        if f"l{i}.weight" in tensors:
            np.maximum(h, 0, out=h)
    return h
