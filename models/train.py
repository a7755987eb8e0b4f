"""Offline RL for the teacher: return-conditioned behaviour learning.

As in Decision Transformer / NetLLM, the model learns p(action | state,
return-to-go) from experience pools; asking for a high return at inference
steers it towards the better of the behaviours it has seen.  Validation
uses whole scenarios held out from training; the best validation
checkpoint is kept; a run can resume from its last epoch.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from aqmllm.models.features import valid_action_mask
from aqmllm.models.pool import Pool, merge_pools, split_by_scenario
from aqmllm.models.teacher import Teacher, TeacherSpec, batch_tensors, save_teacher
from tqdm import tqdm


@dataclass
class TrainConfig:
    epochs: int = 3
    batch_size: int = 64
    lr: float = 3e-4
    val_fraction: float = 0.2
    max_steps_per_epoch: int = 0  # 0: the whole pool
    max_val_steps: int = 4096  # validation subsample (a forward pass per step is costly)
    seed: int = 0
    device: str = "auto"


def _device(name: str) -> str:
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return name


def _batches(pool: Pool, batch: int, rng: np.random.Generator, limit: int):
    order = rng.permutation(len(pool))
    if limit:
        order = order[: limit * batch]
    for i in range(0, len(order), batch):
        idx = np.sort(order[i : i + batch])
        yield idx


def _loss(model: Teacher, pool: Pool, idx: np.ndarray, device: str):
    mask = valid_action_mask(pool.records[idx])
    tensors = batch_tensors(pool.scalars[idx], pool.series[idx], pool.rtg[idx], mask, device)
    logits = model(*tensors)
    target = torch.as_tensor(pool.actions[idx].astype(np.int64) - 1, device=device)
    loss = F.cross_entropy(logits, target)
    acc = (logits.argmax(1) == target).float().mean()
    return loss, acc


@torch.no_grad()
def evaluate(model: Teacher, pool: Pool, batch: int, device: str) -> dict[str, float]:
    model.eval()
    losses, accs, n = 0.0, 0.0, 0
    for i in range(0, len(pool), batch):
        idx = np.arange(i, min(i + batch, len(pool)))
        loss, acc = _loss(model, pool, idx, device)
        losses += float(loss) * len(idx)
        accs += float(acc) * len(idx)
        n += len(idx)
    model.train()
    return {"val_loss": losses / max(n, 1), "val_accuracy": accs / max(n, 1)}


def train_teacher(
    pool_paths: list[str],
    spec: TeacherSpec,
    cfg: TrainConfig,
    out: str | Path,
    resume: bool = False,
    progress: bool = True,
) -> dict[str, float]:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed)
    device = _device(cfg.device)
    pool = merge_pools(pool_paths)
    train, val = split_by_scenario(pool, cfg.val_fraction, cfg.seed)
    if cfg.max_val_steps and len(val) > cfg.max_val_steps:
        pick = np.zeros(len(val), bool)
        pick[np.random.default_rng(cfg.seed).choice(len(val), cfg.max_val_steps, False)] = True
        val = val.subset(pick)
    # Condition on what the best training episodes achieved (a copy: the
    # caller's spec is theirs).
    spec = replace(spec, target_return=float(np.percentile(train.rtg, 90)))
    model = Teacher(spec).to(device)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=cfg.lr)
    state_file = out / "train_state.pt"
    start_epoch, best = 0, float("inf")
    if resume and state_file.exists():
        state = torch.load(state_file, map_location=device, weights_only=False)
        model.load_state_dict(state["model"], strict=False)
        opt.load_state_dict(state["optimizer"])
        start_epoch, best = state["epoch"] + 1, state["best"]
    rng = np.random.default_rng(cfg.seed + start_epoch)
    history = []
    t0 = time.time()
    for epoch in range(start_epoch, cfg.epochs):
        model.train()
        bar = tqdm(
            list(_batches(train, cfg.batch_size, rng, cfg.max_steps_per_epoch)),
            desc=f"epoch {epoch + 1}/{cfg.epochs}",
            disable=not progress,
            unit="batch",
        )
        for idx in bar:
            loss, acc = _loss(model, train, idx, device)
            opt.zero_grad()
            loss.backward()
            opt.step()
            bar.set_postfix(loss=f"{loss.item():.3f}", acc=f"{float(acc):.2f}")
        metrics = evaluate(model, val, 256, device)
        metrics["epoch"] = epoch + 1
        history.append(metrics)
        if metrics["val_loss"] < best:
            best = metrics["val_loss"]
            save_teacher(
                model,
                out / "best",
                {
                    "pools": [str(p) for p in pool_paths],
                    "config": asdict(cfg),
                    "train_steps": len(train),
                    "val_steps": len(val),
                    "train_scenarios": sorted({e["scenario"] for e in train.episodes}),
                    "val_scenarios": sorted({e["scenario"] for e in val.episodes}),
                    "device": device,
                    "wall_s": round(time.time() - t0, 1),
                },
                metrics,
            )
        torch.save(
            {
                "model": model.trainable_state(),
                "optimizer": opt.state_dict(),
                "epoch": epoch,
                "best": best,
            },
            state_file,
        )
    (out / "history.json").write_text(json.dumps(history, indent=2))
    return {"best_val_loss": best, **(history[-1] if history else {})}
