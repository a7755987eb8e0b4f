"""Factored categorical heads: per-knob masked log-probabilities from concatenated logits.

A policy maps a state batch to logits of shape (B, TOTAL_LEVELS): the knobs'
levels side by side, in models/rl/levels.py's order.  Invalid levels (the
fallback cannot use them) are masked per row; each knob is its own
categorical, so the log-probability of a factored action is the sum over
knobs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from aqmllm.models.rl.levels import N_KNOBS, N_LEVELS, OFFSETS, TOTAL_LEVELS

NEG = -1e9


def check_logits(logits: torch.Tensor) -> None:
    if logits.ndim != 2 or logits.shape[1] != TOTAL_LEVELS:
        raise ValueError(f"policy logits: expected (B, {TOTAL_LEVELS}), got {tuple(logits.shape)}")


def masked_log_probs(logits: torch.Tensor, valid: torch.Tensor | None) -> list[torch.Tensor]:
    """Per knob, (B, N_LEVELS[k]) log-probabilities with invalid levels at ~-inf."""
    check_logits(logits)
    if valid is not None:
        logits = logits.masked_fill(~valid, NEG)
    return [
        F.log_softmax(logits[:, OFFSETS[k] : OFFSETS[k] + N_LEVELS[k]], dim=1)
        for k in range(N_KNOBS)
    ]


def action_log_prob(
    logits: torch.Tensor, actions: torch.Tensor, valid: torch.Tensor | None
) -> torch.Tensor:
    """(B,) log pi(a | s) of factored actions (B, N_KNOBS)."""
    per = masked_log_probs(logits, valid)
    return torch.stack(
        [lp.gather(1, actions[:, k : k + 1]).squeeze(1) for k, lp in enumerate(per)], dim=1
    ).sum(dim=1)


def greedy(logits: torch.Tensor, valid: torch.Tensor | None) -> torch.Tensor:
    """(B, N_KNOBS) the most probable valid level of each knob."""
    return torch.stack([lp.argmax(dim=1) for lp in masked_log_probs(logits, valid)], dim=1)


def sample(
    logits: torch.Tensor, valid: torch.Tensor | None, generator: torch.Generator | None = None
) -> torch.Tensor:
    """(B, N_KNOBS) levels drawn from each knob's distribution (exploration)."""
    return torch.stack(
        [
            torch.multinomial(lp.exp(), 1, generator=generator).squeeze(1)
            for lp in masked_log_probs(logits, valid)
        ],
        dim=1,
    )


def one_hot_actions(actions: torch.Tensor) -> torch.Tensor:
    """(B, TOTAL_LEVELS) concatenated one-hots: the critic's action input."""
    return torch.cat([F.one_hot(actions[:, k], N_LEVELS[k]).float() for k in range(N_KNOBS)], dim=1)
