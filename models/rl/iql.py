"""Implicit Q-learning (Kostrikov et al., ICLR 2022) over factored residual actions.

Why IQL (not CRR or AWAC): its critic never queries the policy.  V is an
upper expectile of Q over the actions in the pool, Q is fitted by one-step
TD to r + gamma V(s'), and the policy is extracted afterwards by
advantage-weighted regression, exp(beta (Q - V)) times the log-likelihood of
the pool's action.  So the critic (a small MLP) trains alone, the
advantages are computed once, and the 135 M-parameter teacher only ever
runs a weighted-likelihood step -- the same step the student takes -- with
no sampling from the LLM inside the value update (CRR's and AWAC's V or
policy-improvement terms need pi's actions every critic step).  The
expectile keeps the value in-sample, so actions no behaviour took are never
bootstrapped from: the behaviours' best actions per state are stitched
together (Sage's point), not extrapolated past.

Why not d3rlpy: its IQL, CRR and AWAC are for continuous actions; its
discrete algorithms (DQN, discrete CQL/BCQ/SAC) take one categorical
action, not four factored heads (the joint space has 2058 actions), and it
builds its own encoders for actor and each critic from an EncoderFactory,
which would copy the HF backbone into every value network.  The loss is a
few lines of torch here instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
from aqmllm.models.rl.critic import Critic, TargetQ
from aqmllm.models.rl.heads import action_log_prob


@dataclass
class IQLConfig:
    gamma: float = 0.98  # per 16 ms interval: a horizon of ~50 intervals (0.8 s, 4 RTTs at 200 ms)
    expectile: float = 0.7
    beta: float = 3.0  # inverse temperature of the advantage weights
    max_weight: float = 100.0
    tau: float = 0.005  # Polyak rate of the target Q
    critic_lr: float = 3e-4
    policy_lr: float = 3e-4
    weight_decay: float = 0.0
    batch_size: int = 256
    grad_clip: float = 10.0


@dataclass
class Batch:
    states: torch.Tensor
    actions: torch.Tensor  # (B, N_KNOBS) int64
    rewards: torch.Tensor
    next_states: torch.Tensor
    dones: torch.Tensor  # float 0/1
    valid: torch.Tensor  # (B, TOTAL_LEVELS) bool


def expectile_loss(diff: torch.Tensor, expectile: float) -> torch.Tensor:
    """Asymmetric L2: positive errors (Q above V) weigh `expectile`, negative 1 - it."""
    weight = torch.where(diff > 0, expectile, 1.0 - expectile)
    return (weight * diff.pow(2)).mean()


def value_loss(critic: Critic, target: TargetQ, b: Batch, cfg: IQLConfig) -> torch.Tensor:
    return expectile_loss(target.q(b.states, b.actions) - critic.value(b.states), cfg.expectile)


def q_loss(critic: Critic, b: Batch, cfg: IQLConfig) -> torch.Tensor:
    with torch.no_grad():
        y = b.rewards + cfg.gamma * (1.0 - b.dones) * critic.value(b.next_states)
    q1, q2 = critic.qs(b.states, b.actions)
    return ((q1 - y).pow(2) + (q2 - y).pow(2)).mean()


@torch.no_grad()
def advantage_weights(critic: Critic, target: TargetQ, b: Batch, cfg: IQLConfig) -> torch.Tensor:
    adv = target.q(b.states, b.actions) - critic.value(b.states)
    return torch.exp(cfg.beta * adv).clamp(max=cfg.max_weight)


def policy_loss(policy: nn.Module, b: Batch, weights: torch.Tensor) -> torch.Tensor:
    """Advantage-weighted regression onto the pool's actions (masked, factored)."""
    logp = action_log_prob(policy(b.states), b.actions, b.valid)
    return -(weights * logp).mean()


class IQL:
    """The optimisers and one update of each part; the loop lives in models/rl/trainer.py."""

    def __init__(self, critic: Critic, policy: nn.Module | None, cfg: IQLConfig) -> None:
        self.cfg = cfg
        self.critic = critic
        self.target = TargetQ(critic)
        self.policy = policy
        self.critic_opt = torch.optim.Adam(critic.parameters(), lr=cfg.critic_lr)
        self.policy_opt = (
            torch.optim.AdamW(
                [p for p in policy.parameters() if p.requires_grad],
                lr=cfg.policy_lr,
                weight_decay=cfg.weight_decay,
            )
            if policy is not None
            else None
        )

    def to(self, device: str) -> IQL:
        self.critic.to(device)
        self.target.net.to(device)
        if self.policy is not None:
            self.policy.to(device)
        return self

    def critic_step(self, b: Batch) -> dict[str, float]:
        lv = value_loss(self.critic, self.target, b, self.cfg)
        lq = q_loss(self.critic, b, self.cfg)
        self.critic_opt.zero_grad(set_to_none=True)
        (lv + lq).backward()
        nn.utils.clip_grad_norm_(self.critic.parameters(), self.cfg.grad_clip)
        self.critic_opt.step()
        self.target.update(self.critic, self.cfg.tau)
        return {"v_loss": lv.item(), "q_loss": lq.item()}

    def policy_step(self, b: Batch, weights: torch.Tensor | None = None) -> dict[str, float]:
        if self.policy is None or self.policy_opt is None:
            raise ValueError("IQL was built without a policy")
        w = (
            weights
            if weights is not None
            else advantage_weights(self.critic, self.target, b, self.cfg)
        )
        loss = policy_loss(self.policy, b, w)
        self.policy_opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(
            [p for p in self.policy.parameters() if p.requires_grad], self.cfg.grad_clip
        )
        self.policy_opt.step()
        return {"policy_loss": loss.item(), "mean_weight": w.mean().item()}
