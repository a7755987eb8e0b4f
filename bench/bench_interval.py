"""Interval-tier learning benchmarks: generator speed and IQL step times.  `name: value` lines.

    python bench/bench_interval.py [--smollm2] [--window 16] [--features 24]

Step times are medians over a few steps after a warm-up, on whatever
threads torch uses here (the machine's cores); compare them with each
other, not across machines.  --smollm2 adds the pretrained teacher (loads
the 135 M GGUF backbone: ~20 s).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def _median_ms(fn, steps: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times) * 1e3)


def bench_generator() -> None:
    from aqmllm.sim.gen.family import load_family
    from aqmllm.sim.gen.generate import plan, write

    with tempfile.TemporaryDirectory() as tmp:
        for name in ("steady", "wide"):
            fam = load_family(name)
            t0 = time.perf_counter()
            write(plan(fam, 500, 1, Path(tmp) / name), Path(tmp) / name)
            print(f"generator_{name}_scenarios_per_s: {500 / (time.perf_counter() - t0):.0f}")


def _pool(window: int, features: int, n: int = 4096):
    from aqmllm.models.rl import levels
    from aqmllm.models.rl.pool import IntervalPool
    from aqmllm.models.rl.records import FB_DUALPI2

    rng = np.random.default_rng(0)
    states = rng.normal(size=(n, window, features)).astype(np.float32)
    actions = np.stack([rng.integers(0, k, n) for k in levels.N_LEVELS], axis=1)
    return IntervalPool(
        states,
        np.roll(states, -1, 0),
        actions,
        rng.normal(size=n).astype(np.float32),
        np.zeros(n, bool),
        levels.valid_mask(np.full(n, FB_DUALPI2)),
        np.zeros(n, np.int32),
        [{"scenario": "bench", "seed": 1, "behaviour": {"name": "random"}, "steps": n}],
        {},
    )


def bench_iql(window: int, features: int, smollm2: bool) -> None:
    from aqmllm.models.rl.critic import Critic
    from aqmllm.models.rl.student import IntervalStudent
    from aqmllm.models.rl.teacher import IntervalTeacher, IntervalTeacherSpec

    pool = _pool(window, features)
    shape = (window, features)
    print(f"state_window: {window}")
    print(f"state_features: {features}")
    torch.manual_seed(0)
    policies = {
        "student": (IntervalStudent(shape), 256),
        "teacher_tiny": (IntervalTeacher(IntervalTeacherSpec(list(shape), backbone="tiny")), 64),
    }
    if smollm2:
        t0 = time.perf_counter()
        policies["teacher_smollm2_lora"] = (
            IntervalTeacher(IntervalTeacherSpec(list(shape), backbone="smollm2")),
            64,
        )
        print(f"smollm2_load_s: {time.perf_counter() - t0:.1f}")
    critic = Critic(shape)
    for name, (policy, batch) in policies.items():
        _time_policy(name, policy, batch, critic, pool)


def _time_policy(name, policy, batch: int, critic, pool) -> None:
    from aqmllm.models.rl.iql import IQL, IQLConfig
    from aqmllm.models.rl.trainer import make_batch

    iql = IQL(critic, policy, IQLConfig(batch_size=batch))
    b = make_batch(pool, np.arange(batch), "cpu", 1.0)
    w = torch.ones(batch)
    if name == "student":
        print(f"iql_critic_step_ms_batch{batch}: {_median_ms(lambda: iql.critic_step(b), 20):.2f}")
    steps = 3 if "smollm2" in name else 10
    ms = _median_ms(lambda: iql.policy_step(b, w), steps)
    print(f"iql_policy_step_ms_{name}_batch{batch}: {ms:.1f}")
    policy.eval()
    with torch.no_grad():
        ms = _median_ms(lambda: policy(b.states), steps)
    print(f"forward_ms_{name}_batch{batch}: {ms:.1f}")
    trainable = sum(p.numel() for p in policy.parameters() if p.requires_grad)
    print(f"trainable_params_{name}: {trainable}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--smollm2", action="store_true", help="also time the pretrained teacher")
    ap.add_argument("--window", type=int, default=16)
    ap.add_argument("--features", type=int, default=24)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch_threads: {torch.get_num_threads()}")
    bench_generator()
    bench_iql(args.window, args.features, args.smollm2)


if __name__ == "__main__":
    main()
