"""Train the interval student by IQL on closed-loop pools and save it as a checkpoint.

    python -m aqmllm.models.rl.train_interval --pool P.npz [P2.npz ...] --out DIR
        [--beta 3] [--critic-steps N] [--policy-steps N] [--seed S]

No teacher here: the student MLP (models/rl/student.py) is the policy IQL
extracts (ablation (c) of issue 16; the LLM teacher takes the same trainer
when a GPU makes its steps affordable).  The pools' state schema names the
feature function and window; the checkpoint records them, the levels table,
which fallback takes which knob, and where it came from (pools, their
digests, the trainer's configuration), so the daemon runs exactly the
states it was trained on.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from aqmllm.bridge.layout import FALLBACKS
from aqmllm.models.checkpoint import sha256_hex
from aqmllm.models.interval_checkpoint import save_interval_checkpoint
from aqmllm.models.interval_features import columns_of
from aqmllm.models.rl import levels
from aqmllm.models.rl.iql import IQLConfig
from aqmllm.models.rl.pool import IntervalPool, PoolError, load_interval_pool, merge_interval_pools
from aqmllm.models.rl.student import IntervalStudent
from aqmllm.models.rl.trainer import IQLTrainer, TrainPlan

HIDDEN = (64, 64)


def usable_by_name() -> dict[str, list[str]]:
    names = {v: k for k, v in FALLBACKS.items()}
    return {names[fb]: [levels.KNOB_NAMES[k] for k in knobs] for fb, knobs in levels.USABLE.items()}


def digest(path: Path) -> str:
    return sha256_hex(Path(path).read_bytes())


def load_pools(paths: list[str]) -> IntervalPool:
    pools = [load_interval_pool(p) for p in paths]
    return pools[0] if len(pools) == 1 else merge_interval_pools(pools)


def load_training_pool(paths: list[str]) -> IntervalPool:
    """The merged pools, refused when their schema cannot name the student's states."""
    pool = load_pools(paths)
    if not pool.state_schema.get("features") or len(pool.state_shape) != 2:
        raise PoolError("pool: its state schema names no feature function and window")
    return pool


def pool_provenance(pool: IntervalPool, paths: list[str]) -> dict[str, Any]:
    """What a checkpoint's training record says of its pools: each by path and SHA-256."""
    return {
        "pools": [{"path": str(p), "sha256": digest(Path(p))} for p in paths],
        "pool_episodes": len(pool.episodes),
        "pool_steps": len(pool),
    }


def save_student(
    folder: Path,
    student: IntervalStudent,
    pool: IntervalPool,
    ignore: list[str] | None,
    training: dict[str, Any],
) -> Path:
    """A sealed interval-student checkpoint over the pool's states and the levels table."""
    return save_interval_checkpoint(
        folder,
        "interval-student",
        student.numpy_tensors(),
        str(pool.state_schema["features"]),
        (int(pool.state_shape[0]), int(pool.state_shape[1])),
        levels.table(),
        usable_by_name(),
        architecture=architecture(ignore),
        training=training,
    )


def reuse_critic(trainer: IQLTrainer, state_path: Path) -> None:
    try:
        s = torch.load(state_path, map_location=trainer.device, weights_only=True)
        trainer.iql.critic.load_state_dict(s["critic"])
        trainer.iql.target.net.load_state_dict(s["target"])
    except (OSError, RuntimeError, KeyError) as exc:
        raise PoolError(f"{state_path}: cannot reuse its critic: {exc}") from None
    trainer.phase, trainer.step = "policy", 0


def train(
    pool_paths: list[str],
    out: Path,
    cfg: IQLConfig,
    plan: TrainPlan,
    name: str,
    extra: dict[str, Any] | None = None,
    critic_from: Path | None = None,
    ignore: list[str] | None = None,
) -> Path:
    """IQL over the pools; the best-validation student saved under out/checkpoint.

    ``critic_from``: a finished run's trainer state (iql/iql_state.pt) whose critic is
    reused, so only the policy is extracted -- another beta over the same critic.  The
    plan's seed must be that run's (the same scenarios held back for validation)."""
    torch.manual_seed(plan.seed)
    pool = load_training_pool(pool_paths)
    ignored = columns_of(ignore or [])
    student = IntervalStudent(pool.state_shape, HIDDEN, tuple(ignored))
    trainer = IQLTrainer(pool, student, cfg, plan, out=out / "iql")
    if critic_from is not None:
        reuse_critic(trainer, critic_from)
    else:
        trainer.resume()
    result = trainer.run()
    trainer.load_best()
    student.eval()
    training = {
        "name": name,
        "trainer": "iql (models/rl/trainer.py), student only: no teacher",
        **pool_provenance(pool, pool_paths),
        "iql": asdict(cfg),
        "plan": asdict(plan),
        "best_val_policy_loss": result["best_val_policy_loss"],
        "reward_scale": result["reward_scale"],
        "seconds": round(result["seconds"], 1),
        **(extra or {}),
    }
    if critic_from is not None:
        training["critic_from"] = {"path": str(critic_from), "sha256": digest(critic_from)}
    (out / "history.json").write_text(json.dumps(result["history"], indent=1))
    return save_student(out / "checkpoint", student, pool, ignore, training)


def architecture(ignore: list[str] | None) -> dict[str, Any]:
    arch: dict[str, Any] = {"family": "mlp", "hidden": list(HIDDEN)}
    if ignore:
        arch["ignores"] = list(ignore)  # inputs whose first-layer weights are zero
    return arch


def parse_args(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="train_interval", description=__doc__.splitlines()[0])
    ap.add_argument("--pool", nargs="+", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--name", default="interval-student")
    ap.add_argument("--beta", type=float, default=3.0, help="advantage inverse temperature")
    ap.add_argument("--expectile", type=float, default=0.7)
    ap.add_argument("--critic-steps", type=int, default=20000)
    ap.add_argument("--policy-steps", type=int, default=10000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--critic-from", help="a finished run's iql_state.pt: extract the policy only")
    ap.add_argument(
        "--ignore-features", nargs="*", default=[], metavar="NAME",
        help="interval-v2 features the policy must not read (e.g. res_mult_c res_mult_l"
        " res_target: the residual in effect, i.e. its previous action)",
    )  # fmt: skip
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    a = parse_args(sys.argv[1:] if argv is None else argv)
    cfg = IQLConfig(beta=a.beta, expectile=a.expectile)
    plan = TrainPlan(
        critic_steps=a.critic_steps, policy_steps=a.policy_steps, seed=a.seed,
        eval_every=1000, checkpoint_every=5000,
    )  # fmt: skip
    try:
        columns_of(a.ignore_features)  # a misspelt name, before the pools load
        critic = Path(a.critic_from) if a.critic_from else None
        path = train(
            a.pool, Path(a.out), cfg, plan, a.name, critic_from=critic, ignore=a.ignore_features
        )
    except (PoolError, ValueError) as exc:
        print(f"train_interval: {exc}", file=sys.stderr)
        return 2
    print(f"student: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
