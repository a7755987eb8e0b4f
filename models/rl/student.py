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
    """``ignore``: feature columns the policy must not read (every row of the window),
    e.g. the residual in effect -- with persistent behaviours in the pools, a policy
    that sees its previous action learns to repeat it.  Their first-layer weights are
    exported as zero, so any forward pass over the full state computes the same."""

    def __init__(
        self,
        state_shape: tuple[int, ...],
        hidden: tuple[int, ...] = (64, 64),
        ignore: tuple[int, ...] = (),
    ) -> None:
        super().__init__()
        self.state_shape = tuple(state_shape)
        self.hidden = tuple(hidden)
        self.ignore = tuple(ignore)
        mask = torch.ones(self.state_shape)
        mask[..., list(self.ignore)] = 0.0
        self.register_buffer("input_mask", mask, persistent=False)
        dims = [math.prod(self.state_shape), *hidden, TOTAL_LEVELS]
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(dims, dims[1:], strict=False)):
            layers.append(nn.Linear(a, b))
            if i < len(dims) - 2:
                layers.append(nn.ReLU())
        self.net = nn.Sequential(*layers)

    def forward(self, states: torch.Tensor) -> torch.Tensor:
        return self.net((states * self.input_mask).flatten(1))

    def numpy_tensors(self) -> dict[str, np.ndarray]:
        linears = [m for m in self.net if isinstance(m, nn.Linear)]
        out = {}
        for i, m in enumerate(linears):
            w = m.weight.detach()
            if i == 0:
                w = w * self.input_mask.flatten()[None, :]
            out[f"l{i}.weight"] = w.cpu().numpy().T.copy()
            out[f"l{i}.bias"] = m.bias.detach().cpu().numpy().copy()
        return out

    @torch.no_grad()
    def load_numpy_tensors(self, tensors: dict[str, np.ndarray]) -> None:
        """The inverse of :meth:`numpy_tensors`; ValueError naming a layer that does not fit."""
        linears = [m for m in self.net if isinstance(m, nn.Linear)]
        for i, m in enumerate(linears):
            w, b = tensors.get(f"l{i}.weight"), tensors.get(f"l{i}.bias")
            if w is None or b is None or w.T.shape != tuple(m.weight.shape):
                raise ValueError(f"layer {i} does not fit a {list(self.hidden)} student")
            m.weight.copy_(torch.from_numpy(np.ascontiguousarray(w.T)))
            m.bias.copy_(torch.from_numpy(np.asarray(b)))


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
