"""The critic: twin Q(s, a) over factored actions and a state value V(s).

Small MLPs over the flattened state window, separate from the policy (a
135 M-parameter LLM policy need not be copied into value networks).  Q takes
the action as concatenated one-hots, so it scores the joint action of all
knobs without enumerating the 2058 combinations.
"""

from __future__ import annotations

import copy
import math

import torch
import torch.nn as nn
from aqmllm.models.rl.heads import one_hot_actions
from aqmllm.models.rl.levels import TOTAL_LEVELS


def mlp(d_in: int, hidden: tuple[int, ...], d_out: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for h in hidden:
        layers += [nn.Linear(d_in, h), nn.LayerNorm(h), nn.GELU()]
        d_in = h
    layers.append(nn.Linear(d_in, d_out))
    return nn.Sequential(*layers)


class Critic(nn.Module):
    def __init__(self, state_shape: tuple[int, ...], hidden: tuple[int, ...] = (256, 256)) -> None:
        super().__init__()
        self.state_shape = tuple(state_shape)
        self.hidden = tuple(hidden)
        d = math.prod(self.state_shape)
        self.q1 = mlp(d + TOTAL_LEVELS, hidden, 1)
        self.q2 = mlp(d + TOTAL_LEVELS, hidden, 1)
        self.v = mlp(d, hidden, 1)

    def _flat(self, states: torch.Tensor) -> torch.Tensor:
        if tuple(states.shape[1:]) != self.state_shape:
            raise ValueError(
                f"critic: states {tuple(states.shape[1:])}, built for {self.state_shape}"
            )
        return states.flatten(1)

    def qs(self, states: torch.Tensor, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.cat([self._flat(states), one_hot_actions(actions)], dim=1)
        return self.q1(x).squeeze(1), self.q2(x).squeeze(1)

    def value(self, states: torch.Tensor) -> torch.Tensor:
        return self.v(self._flat(states)).squeeze(1)


class TargetQ:
    """A slowly moving copy of the critic's Q networks (Polyak averaging)."""

    def __init__(self, critic: Critic) -> None:
        self.net = copy.deepcopy(critic).requires_grad_(False)

    @torch.no_grad()
    def update(self, critic: Critic, tau: float) -> None:
        for t, s in zip(self.net.parameters(), critic.parameters(), strict=True):
            t.lerp_(s, tau)

    @torch.no_grad()
    def q(self, states: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        q1, q2 = self.net.qs(states, actions)
        return torch.minimum(q1, q2)
