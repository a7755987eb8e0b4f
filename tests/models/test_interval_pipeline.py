"""The pieces fit: behaviour -> records -> episodes -> pool v2 -> IQL -> student -> levels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from aqmllm.models.rl import levels
from aqmllm.models.rl.behaviour import Perturbed, randomised_classic
from aqmllm.models.rl.episodes import episode_from_records, split_by_queue
from aqmllm.models.rl.heads import greedy
from aqmllm.models.rl.iql import IQLConfig
from aqmllm.models.rl.pool import load_interval_pool, write_interval_pool
from aqmllm.models.rl.records import CLASS_C, CLASS_L, FB_DUALPI2, FB_PIE, empty
from aqmllm.models.rl.student import IntervalStudent
from aqmllm.models.rl.trainer import IQLTrainer, TrainPlan

MS = 1_000_000
WINDOW = 4


def _interval(rng: np.random.Generator, seq: int, queues: list[tuple[int, int]]) -> np.ndarray:
    rec = empty(len(queues))
    for i, (q, fb) in enumerate(queues):
        rec[i]["seq"], rec[i]["queue_id"], rec[i]["fb_id"] = seq, q, fb
        rec[i]["interval_ns"], rec[i]["rate_kbps"] = 16 * MS, 20_000
        rec[i]["t_ns"] = seq * 16 * MS
        rec[i]["target_ns"] = 15 * MS
        for c in (CLASS_C, CLASS_L):
            part = rec["cls"][i, c]
            part["arr_pkts"] = part["dep_pkts"] = rng.integers(5, 20)
            part["dep_bytes"] = int(rng.uniform(0.3, 0.5) * 40_000)
            part["sojourn_max_ns"] = int(rng.uniform(0, 30) * MS)
            part["sojourn_mean_ns"] = part["sojourn_max_ns"] // 2
    return rec


def _features(rec: np.ndarray) -> np.ndarray:
    c = rec["cls"][:, CLASS_C]
    return np.stack([c["sojourn_max_ns"] / 15e6, c["dep_bytes"] / 40_000.0], axis=1)


def test_behaviour_to_trained_student(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    episodes = []
    for run, fb_name in enumerate(["dualpi2", "pie", "dualpi2"]):
        fb = FB_DUALPI2 if fb_name == "dualpi2" else FB_PIE
        policy = Perturbed(randomised_classic(fb_name, seed=run), seed=run)
        queues = [(0, fb), (7, fb)]
        records, actions = [], []
        for seq in range(1, 61):
            rec = _interval(rng, seq, queues)
            records.append(rec)
            actions.append(policy.act(rec))
        recs, acts = np.concatenate(records), np.concatenate(actions)
        for q, mine in split_by_queue(recs).items():
            a = acts[recs["queue_id"] == q]
            episodes.append(
                episode_from_records(
                    mine, a, _features, WINDOW, f"gen-{run}", 100 + run, policy.describe()
                )
            )
    pool = load_interval_pool(write_interval_pool(tmp_path / "p.npz", episodes, {"toy": 1}))
    assert len(pool.episodes) == 6 and pool.episodes[0]["behaviour"]["inner"]["fallback"]
    torch.manual_seed(0)
    student = IntervalStudent(pool.state_shape, (16,))
    trainer = IQLTrainer(
        pool,
        student,
        IQLConfig(batch_size=32),
        TrainPlan(critic_steps=20, policy_steps=20, eval_every=10),
        log=None,
    )
    result = trainer.run()
    assert result["val_steps"] > 0 and np.isfinite(result["history"][-1]["policy_loss"])
    states = torch.as_tensor(pool.states[:8])
    act = greedy(student(states), torch.as_tensor(pool.valid[:8])).numpy()
    res = levels.to_residual(act)
    assert res["res_log2_mult"].shape == (8, 2)
    pie_rows = pool.valid[:, levels.OFFSETS[levels.STEP] + 1] == 0
    assert pie_rows.any() and (pool.actions[pie_rows, levels.STEP] == 0).all()
