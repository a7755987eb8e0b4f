"""Interval experience pools (format 2): transitions of residual policies per queue.

One ``.npz`` per pool (models/POOL_FORMAT.md, "Version 2"): per step the
state window, the factored residual action (a level index per knob), the
reward, the next state, done, the levels the queue's fallback accepted and
optionally the interval record the reward was read from; per episode its
scenario, seed and behaviour policy.  Loading validates everything and
names the first thing wrong.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from aqmllm.models.checkpoint import ModelError
from aqmllm.models.rl import levels
from aqmllm.models.rl.records import check_records
from aqmllm.models.rl.reward import WEIGHTS

POOL_FORMAT = 2
ARRAYS = ("states", "next_states", "actions", "rewards", "dones", "valid", "episode")


class PoolError(ModelError):
    """An interval pool is malformed, or built for other levels or another state schema."""


def schema_fingerprint(schema: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(schema, sort_keys=True).encode()).hexdigest()[:16]


@dataclass
class IntervalEpisode:
    states: np.ndarray  # (T, *state_shape) float32
    actions: np.ndarray  # (T, N_KNOBS) level indices
    rewards: np.ndarray  # (T,) float32
    next_states: np.ndarray  # (T, *state_shape)
    valid: np.ndarray  # (T, TOTAL_LEVELS) bool
    scenario: str
    seed: int
    behaviour: dict[str, Any]  # at least {"name": ...}; the policy's describe()
    queue_id: int = 0
    records: np.ndarray | None = None  # (T,) the interval record after each action
    outcomes: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.actions)


@dataclass
class IntervalPool:
    states: np.ndarray
    next_states: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    dones: np.ndarray
    valid: np.ndarray
    episode: np.ndarray
    episodes: list[dict[str, Any]]
    state_schema: dict[str, Any]
    records: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.actions)

    @property
    def state_shape(self) -> tuple[int, ...]:
        return tuple(self.states.shape[1:])

    def scenario_of_step(self) -> np.ndarray:
        return np.array([e["scenario"] for e in self.episodes])[self.episode]

    def subset(self, mask: np.ndarray) -> IntervalPool:
        keep = np.unique(self.episode[mask])
        return IntervalPool(
            self.states[mask],
            self.next_states[mask],
            self.actions[mask],
            self.rewards[mask],
            self.dones[mask],
            self.valid[mask],
            np.searchsorted(keep, self.episode[mask]).astype(np.int32),
            [self.episodes[i] for i in keep],
            self.state_schema,
            None if self.records is None else self.records[mask],
        )


def _check_episode(i: int, ep: IntervalEpisode, shape: tuple[int, ...]) -> None:
    where = f"episode {i} ({ep.scenario}, seed {ep.seed})"
    n = len(ep.actions)
    if n == 0:
        raise PoolError(f"{where}: no steps")
    if ep.states.shape != (n, *shape) or ep.next_states.shape != (n, *shape):
        raise PoolError(
            f"{where}: states {ep.states.shape} / next {ep.next_states.shape},"
            f" expected {(n, *shape)}"
        )
    if ep.rewards.shape != (n,) or ep.valid.shape != (n, levels.TOTAL_LEVELS):
        raise PoolError(f"{where}: rewards {ep.rewards.shape} or valid {ep.valid.shape} misshapen")
    if not isinstance(ep.behaviour, dict) or not ep.behaviour.get("name"):
        raise PoolError(f"{where}: behaviour must describe the policy (a dict with a name)")
    if ep.records is not None:
        check_records(ep.records, where)
        if len(ep.records) != n:
            raise PoolError(f"{where}: {len(ep.records)} records for {n} steps")


def write_interval_pool(
    path: str | Path, episodes: list[IntervalEpisode], state_schema: dict[str, Any]
) -> Path:
    if not episodes:
        raise PoolError("no episodes to write")
    shape = tuple(episodes[0].states.shape[1:])
    with_records = episodes[0].records is not None
    for i, ep in enumerate(episodes):
        _check_episode(i, ep, shape)
        if (ep.records is not None) != with_records:
            raise PoolError(f"episode {i}: records given for some episodes only")
    dones = [np.zeros(len(ep), bool) for ep in episodes]
    for d in dones:
        d[-1] = True
    arrays = {
        "states": np.concatenate([ep.states for ep in episodes]).astype(np.float32),
        "next_states": np.concatenate([ep.next_states for ep in episodes]).astype(np.float32),
        "actions": np.concatenate([ep.actions for ep in episodes]).astype(np.uint8),
        "rewards": np.concatenate([ep.rewards for ep in episodes]).astype(np.float32),
        "dones": np.concatenate(dones),
        "valid": np.concatenate([ep.valid for ep in episodes]).astype(bool),
        "episode": np.concatenate([np.full(len(ep), i, np.int32) for i, ep in enumerate(episodes)]),
    }
    if with_records:
        arrays["records"] = np.concatenate([ep.records for ep in episodes])  # type: ignore[misc]
    header = {
        "format": POOL_FORMAT,
        "kind": "interval",
        "state_schema": state_schema,
        "state_schema_id": schema_fingerprint(state_schema),
        "state_shape": list(shape),
        "levels": levels.table(),
        "reward": {"module": "aqmllm.models.rl.reward", "weights": WEIGHTS},
        "episodes": [
            {
                "scenario": ep.scenario,
                "seed": int(ep.seed),
                "behaviour": ep.behaviour,
                "queue_id": int(ep.queue_id),
                "steps": len(ep),
                "outcomes": ep.outcomes,
            }
            for ep in episodes
        ],
    }
    _validate(header, arrays, "pool to write")
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, header=np.array(json.dumps(header)), **arrays)
    return out


def _validate(header: dict[str, Any], a: dict[str, np.ndarray], p: str) -> None:
    if header.get("levels") != levels.table():
        raise PoolError(f"{p}: residual level tables differ from this build's; collect it again")
    eps = header.get("episodes")
    if not isinstance(eps, list) or not eps:
        raise PoolError(f"{p}: header lists no episodes")
    n = len(a["actions"])
    for name, arr in a.items():
        if len(arr) != n:
            raise PoolError(f"{p}: array {name} has {len(arr)} rows, expected {n}")
    shape = tuple(header.get("state_shape", ()))
    if a["states"].shape[1:] != shape or a["next_states"].shape[1:] != shape:
        raise PoolError(f"{p}: states are {a['states'].shape[1:]}, header says {shape}")
    for name in ("states", "next_states", "rewards"):
        if not np.isfinite(a[name]).all():
            raise PoolError(f"{p}: array {name} holds NaN or infinite values")
    try:
        levels.check_actions(a["actions"])
    except ValueError as exc:
        raise PoolError(f"{p}: {exc}") from None
    if a["valid"].shape != (n, levels.TOTAL_LEVELS) or a["valid"].dtype != bool:
        raise PoolError(f"{p}: valid must be a ({n}, {levels.TOTAL_LEVELS}) bool array")
    taken = np.take_along_axis(a["valid"], levels.flat_index(a["actions"]), axis=1)
    if not taken.all():
        row = int(np.nonzero(~taken.all(axis=1))[0][0])
        raise PoolError(f"{p}: step {row} took a level its fallback does not accept")
    ep = a["episode"]
    steps = np.bincount(ep, minlength=len(eps)) if n and ep.min() >= 0 else None
    if (
        steps is None
        or len(steps) != len(eps)
        or np.any(np.diff(ep) < 0)
        or np.any(np.diff(ep) > 1)
    ):
        raise PoolError(f"{p}: episode ids must run 0..{len(eps) - 1} in order")
    for i, e in enumerate(eps):
        if (
            not isinstance(e, dict)
            or not isinstance(e.get("scenario"), str)
            or not isinstance(e.get("seed"), int)
            or not isinstance(e.get("behaviour"), dict)
        ):
            raise PoolError(f"{p}: episode {i} lacks its scenario, seed or behaviour")
        if e.get("steps") != int(steps[i]):
            raise PoolError(
                f"{p}: episode {i} has {int(steps[i])} steps, header says {e.get('steps')}"
            )
    last = np.r_[ep[1:] != ep[:-1], True]
    if not np.array_equal(a["dones"].astype(bool), last):
        raise PoolError(f"{p}: done must hold exactly at each episode's last step")
    if "records" in a:
        try:
            check_records(a["records"], p)
        except ValueError as exc:
            raise PoolError(str(exc)) from None


def load_interval_pool(path: str | Path, expected_schema_id: str | None = None) -> IntervalPool:
    p = Path(path)
    try:
        data = np.load(p, allow_pickle=False)
        header = json.loads(str(data["header"]))
    except FileNotFoundError:
        raise PoolError(f"{p}: no such pool") from None
    except (OSError, ValueError, KeyError) as exc:
        raise PoolError(f"{p}: not an experience pool: {exc}") from None
    if not isinstance(header, dict):
        raise PoolError(f"{p}: pool header is not a JSON object")
    if header.get("format") != POOL_FORMAT or header.get("kind") != "interval":
        raise PoolError(
            f"{p}: pool format {header.get('format')} ({header.get('kind', 'per-packet')}),"
            f" the interval trainer reads format {POOL_FORMAT} (interval)"
        )
    want = expected_schema_id
    if want is not None and header.get("state_schema_id") != want:
        raise PoolError(
            f"{p}: state schema {header.get('state_schema_id')} differs from the model's {want}"
        )
    try:
        arrays = {k: data[k] for k in ARRAYS}
        if "records" in data.files:
            arrays["records"] = data["records"]
    except KeyError as exc:
        raise PoolError(f"{p}: pool lacks the array {exc}") from None
    except ValueError as exc:
        raise PoolError(f"{p}: unreadable array: {exc}") from None
    _validate(header, arrays, str(p))
    return IntervalPool(
        arrays["states"],
        arrays["next_states"],
        arrays["actions"].astype(np.int64),
        arrays["rewards"],
        arrays["dones"].astype(bool),
        arrays["valid"],
        arrays["episode"].astype(np.int32),
        header["episodes"],
        header.get("state_schema", {}),
        arrays.get("records"),
    )


def merge_interval_pools(pools: list[IntervalPool]) -> IntervalPool:
    if not pools:
        raise PoolError("no pools to merge")
    first = pools[0]
    for q in pools[1:]:
        if q.state_schema != first.state_schema or q.state_shape != first.state_shape:
            raise PoolError("pools of different state schemas cannot be merged")
    offsets = np.cumsum([0] + [len(q.episodes) for q in pools[:-1]])
    recs = [q.records for q in pools]
    return IntervalPool(
        np.concatenate([q.states for q in pools]),
        np.concatenate([q.next_states for q in pools]),
        np.concatenate([q.actions for q in pools]),
        np.concatenate([q.rewards for q in pools]),
        np.concatenate([q.dones for q in pools]),
        np.concatenate([q.valid for q in pools]),
        np.concatenate([q.episode + o for q, o in zip(pools, offsets, strict=True)]).astype(
            np.int32
        ),
        [e for q in pools for e in q.episodes],
        first.state_schema,
        None if any(r is None for r in recs) else np.concatenate(recs),  # type: ignore[arg-type]
    )
