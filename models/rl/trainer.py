"""Offline RL over an interval pool: fit the critic, then extract the policy (IQL).

Phase 1 fits the critic (Q, V) alone; phase 2 computes the advantage
weights of every training step once and runs weighted-likelihood steps on
the policy -- any nn.Module mapping states to (B, TOTAL_LEVELS) logits, the
LLM teacher or the student MLP.  Validation holds out whole scenarios.
Minibatches are drawn from (seed, phase, step), so a run resumed from its
checkpoint (``out/iql_state.pt``, written every ``checkpoint_every`` steps)
continues exactly; the best policy by validation loss is kept in memory
and in ``out/iql_best_policy.pt``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn
from aqmllm.models.checkpoint import ModelError
from aqmllm.models.rl.critic import Critic
from aqmllm.models.rl.heads import greedy
from aqmllm.models.rl.iql import IQL, Batch, IQLConfig, advantage_weights, policy_loss, q_loss
from aqmllm.models.rl.pool import IntervalPool

STATE_FILE = "iql_state.pt"
BEST_FILE = "iql_best_policy.pt"
PHASES = {"critic": 0, "policy": 1}


@dataclass
class TrainPlan:
    critic_steps: int = 2000
    policy_steps: int = 2000
    val_fraction: float = 0.2
    eval_every: int = 200
    checkpoint_every: int = 500
    max_val_rows: int = 4096
    seed: int = 0
    device: str = "auto"
    reward_scale: float = 0.0  # 0: 1 / std of the training rewards


def device_of(name: str) -> str:
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return name


def split_by_scenario(pool: IntervalPool, fraction: float, seed: int):
    names = sorted(set(pool.scenario_of_step().tolist()))
    if len(names) < 2 or fraction <= 0:
        return pool, None
    rng = np.random.default_rng(seed)
    n_val = max(1, int(round(len(names) * fraction)))
    val = set(rng.choice(names, size=n_val, replace=False).tolist())
    is_val = np.isin(pool.scenario_of_step(), list(val))
    return pool.subset(~is_val), pool.subset(is_val)


def make_batch(pool: IntervalPool, idx: np.ndarray, device: str, reward_scale: float) -> Batch:
    def t(a: np.ndarray, dtype: torch.dtype) -> torch.Tensor:
        return torch.as_tensor(np.ascontiguousarray(a), dtype=dtype, device=device)

    return Batch(
        t(pool.states[idx], torch.float32),
        t(pool.actions[idx], torch.int64),
        t(pool.rewards[idx] * reward_scale, torch.float32),
        t(pool.next_states[idx], torch.float32),
        t(pool.dones[idx], torch.float32),
        t(pool.valid[idx], torch.bool),
    )


def _rows(seed: int, phase: str, step: int, n: int, batch: int) -> np.ndarray:
    return np.random.default_rng([seed, PHASES[phase], step]).integers(0, n, size=batch)


def _trainable(policy: nn.Module) -> dict[str, torch.Tensor]:
    names = {n for n, p in policy.named_parameters() if p.requires_grad}
    return {n: t.detach().clone() for n, t in policy.state_dict().items() if n in names}


class IQLTrainer:
    def __init__(
        self,
        pool: IntervalPool,
        policy: nn.Module,
        cfg: IQLConfig | None = None,
        plan: TrainPlan | None = None,
        critic: Critic | None = None,
        out: str | Path | None = None,
        log: Callable[[str], None] | None = print,
    ) -> None:
        self.cfg, self.plan = cfg or IQLConfig(), plan or TrainPlan()
        self.device = device_of(self.plan.device)
        self.train, self.val = split_by_scenario(pool, self.plan.val_fraction, self.plan.seed)
        std = float(self.train.rewards.std())
        self.reward_scale = self.plan.reward_scale or (1.0 / std if std > 0 else 1.0)
        self.iql = IQL(critic or Critic(pool.state_shape), policy, self.cfg).to(self.device)
        self.out = Path(out) if out is not None else None
        self.log = log or (lambda _msg: None)
        self.phase, self.step = "critic", 0
        self.history: list[dict[str, Any]] = []
        self.best: tuple[float, dict[str, torch.Tensor]] | None = None
        self._weights: np.ndarray | None = None

    # -- checkpoints -------------------------------------------------------------------------
    def save_state(self) -> None:
        if self.out is None:
            return
        self.out.mkdir(parents=True, exist_ok=True)
        state = {
            "phase": self.phase,
            "step": self.step,
            "critic": self.iql.critic.state_dict(),
            "target": self.iql.target.net.state_dict(),
            "critic_opt": self.iql.critic_opt.state_dict(),
            "policy": _trainable(self.iql.policy),  # type: ignore[arg-type]
            "policy_opt": self.iql.policy_opt.state_dict(),  # type: ignore[union-attr]
            "best_loss": self.best[0] if self.best else None,
            "history": self.history,
            "config": asdict(self.cfg),
        }
        tmp = self.out / (STATE_FILE + ".tmp")
        torch.save(state, tmp)
        tmp.replace(self.out / STATE_FILE)

    def resume(self) -> bool:
        path = self.out / STATE_FILE if self.out is not None else None
        if path is None or not path.exists():
            return False
        try:
            s = torch.load(path, map_location=self.device, weights_only=True)
            self.iql.critic.load_state_dict(s["critic"])
            self.iql.target.net.load_state_dict(s["target"])
            self.iql.critic_opt.load_state_dict(s["critic_opt"])
            self.iql.policy.load_state_dict(s["policy"], strict=False)  # type: ignore[union-attr]
            self.iql.policy_opt.load_state_dict(s["policy_opt"])  # type: ignore[union-attr]
        except Exception as exc:  # torch.load raises pickle, zip and runtime errors alike
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ModelError(f"{path}: cannot resume from this trainer state: {first}") from None
        self.phase, self.step, self.history = s["phase"], int(s["step"]), list(s["history"])
        best = self.out / BEST_FILE  # type: ignore[operator]
        if s["best_loss"] is not None and best.exists():
            self.best = (float(s["best_loss"]), torch.load(best, weights_only=True))
        self.log(f"resumed at {self.phase} step {self.step}")
        return True

    # -- evaluation --------------------------------------------------------------------------
    def _val_rows(self) -> np.ndarray:
        assert self.val is not None
        n = len(self.val)
        rng = np.random.default_rng([self.plan.seed, 7])
        return np.sort(rng.choice(n, size=min(n, self.plan.max_val_rows), replace=False))

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        if self.val is None:
            return {}
        b = make_batch(self.val, self._val_rows(), self.device, self.reward_scale)
        out = {"val_q_loss": float(q_loss(self.iql.critic, b, self.cfg))}
        if self.phase == "policy":
            pol = self.iql.policy
            pol.eval()  # type: ignore[union-attr]
            w = advantage_weights(self.iql.critic, self.iql.target, b, self.cfg)
            out["val_policy_loss"] = float(policy_loss(pol, b, w))  # type: ignore[arg-type]
            # the critic's opinion of the policy's greedy choice, over the state's value
            a = greedy(pol(b.states), b.valid)  # type: ignore[misc]
            out["val_greedy_advantage"] = float(
                (self.iql.target.q(b.states, a) - self.iql.critic.value(b.states)).mean()
            )
            pol.train()  # type: ignore[union-attr]
        return out

    # -- the loop ----------------------------------------------------------------------------
    def _train_weights(self) -> np.ndarray:
        if self._weights is None:
            chunks = []
            for i in range(0, len(self.train), 4096):
                idx = np.arange(i, min(i + 4096, len(self.train)))
                b = make_batch(self.train, idx, self.device, self.reward_scale)
                w = advantage_weights(self.iql.critic, self.iql.target, b, self.cfg)
                chunks.append(w.cpu().numpy())
            self._weights = np.concatenate(chunks)
        return self._weights

    def _record(self, row: dict[str, Any]) -> None:
        self.history.append(row)
        shown = ", ".join(f"{k} {v:.4g}" for k, v in row.items() if isinstance(v, float))
        self.log(f"{row['phase']} {row['step']}: {shown}")

    def run(self) -> dict[str, Any]:
        p, cfg = self.plan, self.cfg
        n = len(self.train)
        t0 = time.perf_counter()
        while self.phase == "critic" and self.step < p.critic_steps:
            idx = _rows(p.seed, "critic", self.step, n, cfg.batch_size)
            stats = self.iql.critic_step(
                make_batch(self.train, idx, self.device, self.reward_scale)
            )
            self.step += 1
            self._after_step(stats)
        if self.phase == "critic":
            self.phase, self.step = "policy", 0
        weights = self._train_weights()
        while self.step < p.policy_steps:
            idx = _rows(p.seed, "policy", self.step, n, cfg.batch_size)
            b = make_batch(self.train, idx, self.device, self.reward_scale)
            stats = self.iql.policy_step(b, torch.as_tensor(weights[idx], device=self.device))
            self.step += 1
            self._after_step(stats)
        self.save_state()
        return {
            "history": self.history,
            "best_val_policy_loss": self.best[0] if self.best else None,
            "seconds": time.perf_counter() - t0,
            "reward_scale": self.reward_scale,
            "train_steps": n,
            "val_steps": 0 if self.val is None else len(self.val),
        }

    def _after_step(self, stats: dict[str, float]) -> None:
        p = self.plan
        last = self.step == (p.critic_steps if self.phase == "critic" else p.policy_steps)
        if self.step % p.eval_every == 0 or last:
            row: dict[str, Any] = {"phase": self.phase, "step": self.step, **stats}
            row.update(self.evaluate())
            if "val_policy_loss" in row and (
                self.best is None or row["val_policy_loss"] < self.best[0]
            ):
                self.best = (row["val_policy_loss"], _trainable(self.iql.policy))  # type: ignore[arg-type]
                if self.out is not None:
                    self.out.mkdir(parents=True, exist_ok=True)
                    torch.save(self.best[1], self.out / BEST_FILE)
            self._record(row)
        if self.step % p.checkpoint_every == 0:
            self.save_state()

    def load_best(self) -> None:
        """Put the best validation policy's weights back into the policy."""
        if self.best is not None:
            self.iql.policy.load_state_dict(self.best[1], strict=False)  # type: ignore[union-attr]
