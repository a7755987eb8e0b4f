"""Distillation: the teacher's action distributions into the line-rate student.

Targets are the teacher's probabilities over {pass, drop, mark} on pool
states (or, with no teacher, the experts' own actions).  With a simulator
(DAgger), the student then runs closed-loop, the teacher labels the states
the student itself visits, and those join the training set.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from aqmllm.models.checkpoint import read_manifest, save_checkpoint
from aqmllm.models.features import series_summary, valid_action_mask
from aqmllm.models.pool import Pool, merge_pools, split_by_scenario
from aqmllm.models.student import INPUT_DIM, torch_module, weights_from_torch
from tqdm import tqdm


@dataclass
class DistillConfig:
    hidden: tuple[int, ...] = (32, 32)
    epochs: int = 20
    batch_size: int = 512
    lr: float = 2e-3
    val_fraction: float = 0.2
    seed: int = 0
    dagger_rounds: int = 0
    dagger_seconds: float = 5.0
    max_states: int = 0  # subsample the pool (teacher labels cost a forward pass each)
    # The return the teacher is conditioned on while it labels, as a percentile
    # of the pool's returns-to-go; None keeps the one chosen at training.
    target_return_percentile: float | None = None


def _inputs(pool: Pool) -> np.ndarray:
    return np.concatenate(
        [pool.scalars, series_summary(pool.series.astype(np.float32))], axis=1
    ).astype(np.float32)


def teacher_targets(
    teacher_dir: str | None, pool: Pool, target_return: float | None = None
) -> np.ndarray:
    """(n, 3) target distributions: the teacher's, or the experts' actions."""
    if teacher_dir is None:
        onehot = np.zeros((len(pool), 3), np.float32)
        onehot[np.arange(len(pool)), pool.actions.astype(np.int64) - 1] = 1.0
        return onehot
    from aqmllm.models.teacher import batch_tensors, load_teacher

    manifest, folder = read_manifest(teacher_dir)
    model = load_teacher(manifest, folder)
    out = np.empty((len(pool), 3), np.float32)
    goal = model.spec.target_return if target_return is None else target_return
    rtg = np.full(len(pool), goal, np.float32)
    with torch.no_grad():
        for i in tqdm(range(0, len(pool), 256), desc="teacher labels", unit="batch"):
            sl = slice(i, i + 256)
            mask = valid_action_mask(pool.records[sl])
            logits = model(*batch_tensors(pool.scalars[sl], pool.series[sl], rtg[sl], mask))
            out[sl] = torch.softmax(logits, 1).numpy()
    return out


def _fit(
    x: np.ndarray,
    y: np.ndarray,
    mask: np.ndarray,
    xv: np.ndarray,
    yv: np.ndarray,
    mv: np.ndarray,
    cfg: DistillConfig,
) -> tuple[torch.nn.Module, dict[str, float]]:
    torch.manual_seed(cfg.seed)
    net = torch_module(cfg.hidden)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    tx, ty, tm = map(torch.as_tensor, (x, y, mask))
    rng = np.random.default_rng(cfg.seed)
    for _ in tqdm(range(cfg.epochs), desc="distill", unit="epoch"):
        order = rng.permutation(len(x))
        for i in range(0, len(order), cfg.batch_size):
            idx = torch.as_tensor(order[i : i + cfg.batch_size])
            logits = net(tx[idx]).masked_fill(~tm[idx], -1e9)
            loss = -(ty[idx] * F.log_softmax(logits, 1)).sum(1).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    with torch.no_grad():
        logits = net(torch.as_tensor(xv)).masked_fill(~torch.as_tensor(mv), -1e9)
        logp = F.log_softmax(logits, 1)
        yv_t = torch.as_tensor(yv)
        ce = float(-(yv_t * logp).sum(1).mean())
        ent = float(-(yv_t * torch.log(yv_t.clamp_min(1e-9))).sum(1).mean())
        agree = float((logp.argmax(1) == yv_t.argmax(1)).float().mean())
        p = logp.exp().numpy()
    metrics = {
        "val_kl": ce - ent,
        "val_cross_entropy": ce,
        "val_argmax_agreement": agree,
        "val_signal_rate_student": float(1 - p[:, 0].mean()),
        "val_signal_rate_target": float(1 - yv[:, 0].mean()),
    }
    return net, metrics


def distill(
    pool_paths: list[str],
    out: str | Path,
    teacher: str | None = None,
    cfg: DistillConfig | None = None,
    name: str = "student",
) -> dict[str, float]:
    cfg = cfg or DistillConfig()
    t0 = time.time()
    pool = merge_pools(pool_paths)
    train, val = split_by_scenario(pool, cfg.val_fraction, cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    for split in ("train", "val"):
        part = train if split == "train" else val
        cap = cfg.max_states if split == "train" else cfg.max_states // 4
        if cfg.max_states and len(part) > cap:
            pick = np.zeros(len(part), bool)
            pick[rng.choice(len(part), cap, replace=False)] = True
            if split == "train":
                train = part.subset(pick)
            else:
                val = part.subset(pick)
    goal = None
    if cfg.target_return_percentile is not None:
        goal = float(np.percentile(train.rtg, cfg.target_return_percentile))
        metrics_goal = {"target_return": goal}
    else:
        metrics_goal = {}
    x, xv = _inputs(train), _inputs(val)
    y, yv = teacher_targets(teacher, train, goal), teacher_targets(teacher, val, goal)
    m, mv = valid_action_mask(train.records), valid_action_mask(val.records)
    assert x.shape[1] == INPUT_DIM
    net, metrics = _fit(x, y, m, xv, yv, mv, cfg)
    for rnd in range(cfg.dagger_rounds if teacher else 0):
        visited = dagger_states(net, cfg, seed=cfg.seed + rnd)
        yd = teacher_targets(teacher, visited, goal)
        x = np.concatenate([x, _inputs(visited)])
        y = np.concatenate([y, yd])
        m = np.concatenate([m, valid_action_mask(visited.records)])
        net, metrics = _fit(x, y, m, xv, yv, mv, cfg)
        metrics["dagger_rounds"] = rnd + 1
    weights = weights_from_torch(net)
    metrics["parameters"] = weights.n_params()
    metrics.update(metrics_goal)
    save_checkpoint(
        out,
        "student",
        weights.tensors(),
        {"student": {"hidden": list(cfg.hidden), "input_dim": INPUT_DIM}},
        {
            "name": name,
            "pools": [str(p) for p in pool_paths],
            "teacher": teacher,
            "config": asdict(cfg),
            "train_steps": len(x),
            "val_steps": len(xv),
            "val_scenarios": sorted({e["scenario"] for e in val.episodes}),
            "wall_s": round(time.time() - t0, 1),
        },
        metrics,
    )
    return metrics


def dagger_states(net: torch.nn.Module, cfg: DistillConfig, seed: int) -> Pool:
    """States the student visits when it decides, in the synthetic closed loop."""
    import tempfile

    from aqmllm.models.pool import load_pool, write_pool
    from aqmllm.models.runtime import StudentPolicy
    from aqmllm.models.synthetic import simulate

    student = StudentPolicy(weights_from_torch(net), seed=seed)
    mixes = [[("reno", 20), ("scalable", 20)], [("reno", 40), ("reno-ecn", 10), ("scalable", 30)]]
    eps = [
        simulate(
            mix,
            "dualpi2",
            duration_s=cfg.dagger_seconds,
            seed=seed + i,
            scenario=f"dagger-{seed}-{i}",
            policy=student,
        )
        for i, mix in enumerate(mixes)
    ]
    with tempfile.TemporaryDirectory() as tmp:
        return load_pool(write_pool(Path(tmp) / "dagger.npz", eps))
