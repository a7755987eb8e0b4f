"""Distil an interval teacher into the student: per-knob KL over the pool's states.

The student learns the teacher's whole factored distribution (masked per
queue), not only its argmax, so its own sampling for exploration and its
confidence stay the teacher's.  Teacher outputs are computed once per
batch under no_grad; for the LLM teacher precompute them with
:func:`teacher_log_probs` and pass them in, so distillation epochs do not
rerun the backbone.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn as nn
from aqmllm.models.rl.heads import masked_log_probs
from aqmllm.models.rl.levels import N_KNOBS, N_LEVELS, OFFSETS, TOTAL_LEVELS


@torch.no_grad()
def teacher_log_probs(
    teacher: nn.Module, states: np.ndarray, valid: np.ndarray, batch: int = 256
) -> np.ndarray:
    """(n, TOTAL_LEVELS) the teacher's masked per-knob log-probabilities, concatenated."""
    teacher.eval()
    out = np.empty((len(states), TOTAL_LEVELS), np.float32)
    for i in range(0, len(states), batch):
        s = torch.as_tensor(states[i : i + batch], dtype=torch.float32)
        v = torch.as_tensor(valid[i : i + batch])
        out[i : i + batch] = torch.cat(masked_log_probs(teacher(s), v), dim=1).numpy()
    return out


def kl_loss(student_logits: torch.Tensor, target_logp: torch.Tensor, valid: torch.Tensor):
    """Sum over knobs of KL(teacher || student), averaged over the batch."""
    per = masked_log_probs(student_logits, valid)
    total = student_logits.new_zeros(())
    for k in range(N_KNOBS):
        t = target_logp[:, OFFSETS[k] : OFFSETS[k] + N_LEVELS[k]]
        p = t.exp()
        total = total + (p * (t - per[k])).masked_fill(p == 0, 0.0).sum(dim=1).mean()
    return total


def distill(
    student: nn.Module,
    states: np.ndarray,
    valid: np.ndarray,
    target_logp: np.ndarray,
    steps: int = 2000,
    batch: int = 256,
    lr: float = 1e-3,
    seed: int = 0,
    log: Callable[[str], None] | None = None,
) -> list[float]:
    """Fit the student to the teacher's log-probabilities; returns the loss every 100 steps."""
    if not (len(states) == len(valid) == len(target_logp)) or len(states) == 0:
        raise ValueError("distill: states, valid and teacher outputs must have the same rows")
    opt = torch.optim.Adam(student.parameters(), lr=lr)
    losses = []
    student.train()
    for step in range(steps):
        idx = np.random.default_rng([seed, step]).integers(0, len(states), batch)
        loss = kl_loss(
            student(torch.as_tensor(states[idx], dtype=torch.float32)),
            torch.as_tensor(target_logp[idx]),
            torch.as_tensor(valid[idx]),
        )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % 100 == 0 or step == steps - 1:
            losses.append(loss.item())
            if log:
                log(f"distill {step + 1}/{steps}: KL {loss.item():.4f}")
    return losses
