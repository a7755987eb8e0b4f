"""From one queue's interval records and the residuals chosen to a pool episode.

Timing (PLAN-interval.md): the policy sees record t, answers with action
a_t, which is in effect during the next interval; record t + 1 is the
first produced under it, so r_t comes from record t + 1 and the next state
is the window ending at t + 1.  The last record has no successor: its
action is dropped.  States are windows of the last W per-record feature
rows (oldest first, zero rows before the queue's first record); the
feature function is the schema's (issue 15's v2), passed in, so this code
does not fix it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from aqmllm.models.rl import levels
from aqmllm.models.rl.pool import IntervalEpisode
from aqmllm.models.rl.records import check_records
from aqmllm.models.rl.reward import interval_rewards

FeatureFn = Callable[[np.ndarray], np.ndarray]  # (T,) records -> (T, F) float32, causal


def windows(features: np.ndarray, window: int) -> np.ndarray:
    """(T, F) rows -> (T, window, F): row t holds rows t-window+1 .. t, zero-padded."""
    t, f = features.shape
    padded = np.concatenate([np.zeros((window - 1, f), np.float32), features.astype(np.float32)])
    idx = np.arange(t)[:, None] + np.arange(window)[None, :]
    return padded[idx]


def episode_from_records(
    records: np.ndarray,
    actions: np.ndarray,
    features: FeatureFn,
    window: int,
    scenario: str,
    seed: int,
    behaviour: dict[str, Any],
    nominal_interval_ns: float | None = None,
) -> IntervalEpisode:
    """records[t] and actions[t] (chosen on seeing records[t]) -> T - 1 transitions."""
    check_records(records)
    if len(records) < 2:
        raise ValueError("an episode needs at least two interval records (one transition)")
    if len(np.unique(records["queue_id"])) != 1:
        raise ValueError("an episode is one queue's records; split them by queue_id first")
    if np.any(np.diff(records["seq"].astype(np.int64)) <= 0):
        raise ValueError("interval records must be in sequence order")
    acts = np.asarray(actions, np.int64)
    if acts.shape != (len(records), levels.N_KNOBS):
        raise ValueError(f"actions: expected ({len(records)}, {levels.N_KNOBS}), got {acts.shape}")
    levels.check_actions(acts)
    feats = np.asarray(features(records), np.float32)
    if feats.ndim != 2 or len(feats) != len(records):
        raise ValueError(f"feature function returned {feats.shape} for {len(records)} records")
    states = windows(feats, window)
    valid = levels.valid_mask(records["fb_id"][:-1])
    if not np.take_along_axis(valid, levels.flat_index(acts[:-1]), axis=1).all():
        raise ValueError("an action uses a level the queue's fallback does not accept")
    rewards = interval_rewards(records, nominal_interval_ns)[1:]
    return IntervalEpisode(
        states[:-1],
        acts[:-1],
        rewards,
        states[1:],
        valid,
        scenario,
        seed,
        behaviour,
        queue_id=int(records["queue_id"][0]),
        records=records[1:].copy(),
    )


def queue_order(records: np.ndarray) -> dict[int, np.ndarray]:
    """A run's interleaved interval records -> per queue, the indices of its records in
    sequence order (to take companion arrays, such as the chosen actions, alike)."""
    out = {}
    for q in np.unique(records["queue_id"]):
        mine = np.flatnonzero(records["queue_id"] == q)
        out[int(q)] = mine[np.argsort(records["seq"][mine], kind="stable")]
    return out


def split_by_queue(records: np.ndarray) -> dict[int, np.ndarray]:
    """A run's interleaved interval records -> per queue, in sequence order."""
    return {q: records[idx] for q, idx in queue_order(records).items()}
