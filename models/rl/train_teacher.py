"""The LLM teacher by IQL on closed-loop pools, then distilled into the interval student.

    python -m aqmllm.models.rl.train_teacher --pool P.npz [P2.npz ...] --out DIR
        --critic-from RUN/iql/iql_state.pt [--backbone smollm2|smollm2-random]
        [--policy-steps N] [--batch-size B] [--distill-states N] [--seed S]

Items 4 and 7 of issue 16.  The teacher (models/rl/teacher.py: state
encoder -> SmolLM2-135M with LoRA -> L4S-LM head over the residual levels)
is the policy of the same IQL objective the student takes
(models/rl/trainer.py: advantage-weighted, the value and Q from a learned
critic).  The critic is an MLP over the same states; it is reused from a
finished student run (``--critic-from``) so both policies are extracted
from one value estimate and the comparison is the policy's alone, and the
backbone's CPU time goes to the policy.  Then the teacher's factored
distribution over the pool's states is distilled into the student MLP the
daemon runs (models/rl/distill.py).  ``--backbone smollm2-random`` is
ablation (b): the same architecture with random weights.

DIR/teacher and DIR/student are sealed interval checkpoints; the student's
manifest names its teacher (digest, backbone) and the pools.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from aqmllm.models.checkpoint import ModelError
from aqmllm.models.interval_features import columns_of
from aqmllm.models.rl.distill import distill, teacher_log_probs
from aqmllm.models.rl.iql import IQLConfig
from aqmllm.models.rl.pool import PoolError
from aqmllm.models.rl.student import IntervalStudent
from aqmllm.models.rl.teacher import IntervalTeacher, IntervalTeacherSpec, save_interval_teacher
from aqmllm.models.rl.train_interval import (
    HIDDEN,
    digest,
    load_training_pool,
    pool_provenance,
    reuse_critic,
    save_student,
    usable_by_name,
)
from aqmllm.models.rl.trainer import IQLTrainer, TrainPlan


def distill_rows(n_rows: int, n: int, seed: int) -> np.ndarray:
    """Which pool rows the teacher labels: a seeded sample (the backbone's forward is the cost)."""
    rng = np.random.default_rng([seed, 16])
    return np.sort(rng.choice(n_rows, size=min(n, n_rows), replace=False))


def train(a: argparse.Namespace) -> dict[str, Path]:
    out = Path(a.out)
    torch.manual_seed(a.seed)
    pool = load_training_pool(a.pool)
    schema = pool.state_schema
    shape = (int(pool.state_shape[0]), int(pool.state_shape[1]))
    ignored = columns_of(a.ignore_features)
    spec = IntervalTeacherSpec(list(shape), backbone=a.backbone, lora_r=a.lora_r, ignore=ignored)
    teacher = IntervalTeacher(spec)
    trainable, total = teacher.n_trainable()
    print(f"teacher: {a.backbone}, {trainable:,} of {total:,} parameters trainable", flush=True)
    cfg = IQLConfig(beta=a.beta, expectile=a.expectile, batch_size=a.batch_size, policy_lr=a.lr)
    plan = TrainPlan(
        critic_steps=0, policy_steps=a.policy_steps, seed=a.seed, eval_every=a.eval_every,
        checkpoint_every=a.eval_every, max_val_rows=a.val_rows,
    )  # fmt: skip
    trainer = IQLTrainer(pool, teacher, cfg, plan, out=out / "iql")
    reuse_critic(trainer, Path(a.critic_from))
    t0 = time.perf_counter()
    result = trainer.run()
    trainer.load_best()
    teacher.eval()
    teacher_s = time.perf_counter() - t0
    common = {
        **pool_provenance(pool, a.pool),
        "critic_from": {"path": a.critic_from, "sha256": digest(Path(a.critic_from))},
    }
    teacher_path = save_interval_teacher(
        out / "teacher",
        teacher,
        str(schema["features"]),
        usable_by_name(),
        training={
            "name": f"{a.name}-teacher",
            "trainer": "iql policy extraction (models/rl/trainer.py) over a reused critic",
            "backbone": a.backbone,
            "trainable_parameters": trainable,
            "parameters": total,
            "iql": asdict(cfg),
            "plan": asdict(plan),
            "best_val_policy_loss": result["best_val_policy_loss"],
            "seconds": round(teacher_s, 1),
            **common,
        },
    )
    (out / "teacher_history.json").write_text(json.dumps(result["history"], indent=1))

    # distillation: the teacher's distribution on a sample of the pool's states
    t1 = time.perf_counter()
    rows = distill_rows(len(pool), a.distill_states, a.seed)
    states, valid = pool.states[rows], pool.valid[rows]
    target = teacher_log_probs(teacher, states, valid, batch=256)
    label_s = time.perf_counter() - t1
    student = IntervalStudent(shape, HIDDEN, tuple(ignored))
    losses = distill(student, states, valid, target, steps=a.distill_steps, seed=a.seed)
    student.eval()
    teacher_digest = digest(teacher_path.parent / "weights.safetensors")
    student_path = save_student(
        out / "student",
        student,
        pool,
        a.ignore_features,
        {
            "name": a.name,
            "trainer": "distilled (models/rl/distill.py, per-knob KL) from an IQL teacher",
            "teacher": {
                "path": str(out / "teacher"),
                "weights_sha256": teacher_digest,
                "backbone": a.backbone,
            },
            "distill": {
                "states": int(len(rows)),
                "steps": a.distill_steps,
                "final_kl": round(losses[-1], 5),
                "label_seconds": round(label_s, 1),
            },
            **common,
        },
    )
    (out / "distill_losses.json").write_text(json.dumps(losses))
    print(
        f"teacher {teacher_s:.0f} s, labels {label_s:.0f} s ({len(rows)} states),"
        f" distillation KL {losses[0]:.3f} -> {losses[-1]:.3f}",
        flush=True,
    )
    return {"teacher": teacher_path, "student": student_path}


def parse_args(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="train_teacher", description=__doc__.splitlines()[0])
    ap.add_argument("--pool", nargs="+", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--critic-from", required=True, help="a finished run's iql/iql_state.pt")
    ap.add_argument("--backbone", default="smollm2", help="smollm2, smollm2-random[:seed=N], ...")
    ap.add_argument("--name", default="interval-teacher-student")
    ap.add_argument("--beta", type=float, default=3.0)
    ap.add_argument("--expectile", type=float, default=0.7)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--lora-r", type=int, default=8)
    ap.add_argument("--policy-steps", type=int, default=1200)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--eval-every", type=int, default=200)
    ap.add_argument("--val-rows", type=int, default=1024)
    ap.add_argument("--distill-states", type=int, default=20000)
    ap.add_argument("--distill-steps", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=0, help="must be the critic's run's seed")
    ap.add_argument("--ignore-features", nargs="*", default=[], metavar="NAME",
                    help="interval-v2 features neither teacher nor student reads")  # fmt: skip
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    a = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        paths = train(a)
    except (PoolError, ModelError, ValueError) as exc:
        print(f"train_teacher: {exc}", file=sys.stderr)
        return 2
    print(f"teacher: {paths['teacher']}\nstudent: {paths['student']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
