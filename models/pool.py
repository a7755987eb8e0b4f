"""Experience pools: what the experts did, in the models' format.

A pool is one ``.npz`` file (see POOL_FORMAT.md) with, per step: the ring
record the decision was made on, the action taken, the reward, the episode
it belongs to, and the features the schema derives (scalars and the
queue's series as the daemon would have seen them).  Episodes carry their
scenario and expert; training splits by scenario.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from aqmllm.bridge import layout
from aqmllm.models.checkpoint import ModelError
from aqmllm.models.features import QueueHistory, scalar_features, schema_dict, schema_id
from aqmllm.models.reward import returns_to_go, step_rewards

POOL_FORMAT = 1
HISTORY_BATCH = 64  # records per history snapshot, as the daemon batches them


@dataclass
class Episode:
    records: np.ndarray
    actions: np.ndarray
    scenario: str
    expert: str
    outcomes: dict[str, Any] | None = None


@dataclass
class Pool:
    records: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    rtg: np.ndarray
    episode: np.ndarray
    scalars: np.ndarray
    series: np.ndarray
    episodes: list[dict[str, Any]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.actions)

    def scenario_of_step(self) -> np.ndarray:
        names = np.array([e["scenario"] for e in self.episodes])
        return names[self.episode]

    def subset(self, mask: np.ndarray) -> Pool:
        """The steps where mask holds; episode ids renumbered to match."""
        keep_eps = np.unique(self.episode[mask])
        episode = np.searchsorted(keep_eps, self.episode[mask]).astype(np.int32)
        return Pool(
            self.records[mask],
            self.actions[mask],
            self.rewards[mask],
            self.rtg[mask],
            episode,
            self.scalars[mask],
            self.series[mask],
            [self.episodes[i] for i in keep_eps],
        )


class PoolError(ModelError):
    """A pool file is malformed or built for another feature schema."""


def _validate_episode(i: int, ep: Episode) -> None:
    if ep.records.dtype != layout.RECORD_DTYPE:
        raise PoolError(f"episode {i}: records are not ring records ({ep.records.dtype})")
    if ep.actions.shape != ep.records.shape:
        raise PoolError(f"episode {i}: {len(ep.actions)} actions for {len(ep.records)} records")
    if len(ep.actions) and (ep.actions.min() < 1 or ep.actions.max() > 3):
        raise PoolError(f"episode {i}: action codes outside 1..3")
    bad = (ep.actions == layout.ACT_MARK) & (ep.records["ecn"] == layout.ECN_NOT_ECT)
    if bad.any():
        raise PoolError(f"episode {i}: {int(bad.sum())} marks on Not-ECT packets")


def _features(records: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    scalars = scalar_features(records)
    series = np.empty((len(records), 3, 16), np.float16)
    hist = QueueHistory()
    for start in range(0, len(records), HISTORY_BATCH):
        sl = slice(start, start + HISTORY_BATCH)
        series[sl] = hist.lookup(records[sl])
        hist.update(records[sl], scalars[sl])
    return scalars, series


def write_pool(path: str | Path, episodes: list[Episode]) -> Path:
    if not episodes:
        raise PoolError("no episodes to write")
    parts: dict[str, list[np.ndarray]] = {
        k: [] for k in ("records", "actions", "episode", "scalars", "series")
    }
    meta = []
    for i, ep in enumerate(episodes):
        _validate_episode(i, ep)
        scalars, series = _features(ep.records)
        parts["records"].append(ep.records)
        parts["actions"].append(ep.actions.astype(np.uint8))
        parts["episode"].append(np.full(len(ep.records), i, np.int32))
        parts["scalars"].append(scalars)
        parts["series"].append(series)
        meta.append(
            {
                "scenario": ep.scenario,
                "expert": ep.expert,
                "steps": len(ep.records),
                "outcomes": ep.outcomes or {},
            }
        )
    arrays = {k: np.concatenate(v) for k, v in parts.items()}
    arrays["rewards"] = step_rewards(arrays["records"], arrays["actions"])
    header = {
        "format": POOL_FORMAT,
        "schema": schema_dict(),
        "schema_id": schema_id(),
        "episodes": meta,
    }
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, header=np.array(json.dumps(header)), **arrays)
    return out


def load_pool(path: str | Path, expected_schema: str | None = None) -> Pool:
    p = Path(path)
    try:
        data = np.load(p, allow_pickle=False)
        header = json.loads(str(data["header"]))
    except FileNotFoundError:
        raise PoolError(f"{p}: no such pool") from None
    except (OSError, ValueError, KeyError) as exc:
        raise PoolError(f"{p}: not an experience pool: {exc}") from None
    want = expected_schema or schema_id()
    if header.get("format") != POOL_FORMAT:
        raise PoolError(f"{p}: pool format {header.get('format')}, expected {POOL_FORMAT}")
    if header.get("schema_id") != want:
        raise PoolError(
            f"{p}: pool feature schema {header.get('schema_id')} differs from {want};"
            " collect it again with this build"
        )
    try:
        pool = Pool(
            data["records"],
            data["actions"],
            data["rewards"],
            np.empty(0, np.float32),
            data["episode"],
            data["scalars"],
            data["series"],
            header["episodes"],
        )
    except KeyError as exc:
        raise PoolError(f"{p}: pool lacks the array {exc}") from None
    n = len(pool.actions)
    for name in ("records", "rewards", "episode", "scalars", "series"):
        if len(getattr(pool, name)) != n:
            raise PoolError(f"{p}: array {name} has {len(getattr(pool, name))} rows, expected {n}")
    if pool.records.dtype != layout.RECORD_DTYPE:
        raise PoolError(f"{p}: records are not of this ABI's record layout")
    pool.rtg = returns_to_go(pool.rewards, pool.episode)
    return pool


def validate_pool(path: str | Path) -> dict[str, Any]:
    """Check a pool and summarise it (the `aqmllm train --validate` view)."""
    pool = load_pool(path)
    counts = np.bincount(pool.actions, minlength=4)
    return {
        "steps": len(pool),
        "episodes": len(pool.episodes),
        "scenarios": sorted({e["scenario"] for e in pool.episodes}),
        "experts": sorted({e["expert"] for e in pool.episodes}),
        "actions": {"pass": int(counts[1]), "drop": int(counts[2]), "mark": int(counts[3])},
        "mean_reward": float(pool.rewards.mean()) if len(pool) else 0.0,
    }


def merge_pools(paths: list[str]) -> Pool:
    pools = [load_pool(p) for p in paths]
    if len(pools) == 1:
        return pools[0]
    offset, eps, parts = (
        0,
        [],
        {k: [] for k in ("records", "actions", "rewards", "rtg", "episode", "scalars", "series")},
    )
    for p in pools:
        for k in parts:
            v = getattr(p, k)
            parts[k].append(v + offset if k == "episode" else v)
        offset += len(p.episodes)
        eps += p.episodes
    return Pool(**{k: np.concatenate(v) for k, v in parts.items()}, episodes=eps)


def split_by_scenario(pool: Pool, val_fraction: float, seed: int) -> tuple[Pool, Pool]:
    scen = pool.scenario_of_step()
    names = sorted(set(scen.tolist()))
    if len(names) < 2:
        raise ModelError("training needs pools from at least two scenarios (one for validation)")
    rng = np.random.default_rng(seed)
    n_val = max(1, int(round(len(names) * val_fraction)))
    val_names = set(rng.choice(names, size=n_val, replace=False).tolist())
    is_val = np.isin(scen, list(val_names))
    return pool.subset(~is_val), pool.subset(is_val)
