"""Interval records + chosen residuals -> pool transitions, with the reward one interval later."""

from __future__ import annotations

import numpy as np
import pytest
from aqmllm.models.rl import levels
from aqmllm.models.rl.episodes import episode_from_records, split_by_queue, windows
from aqmllm.models.rl.pool import load_interval_pool, write_interval_pool
from aqmllm.models.rl.records import CLASS_C, FB_DUALPI2, FB_PIE, empty
from aqmllm.models.rl.reward import interval_rewards

MS = 1_000_000


def _records(n: int, queue: int = 3, fb: int = FB_DUALPI2) -> np.ndarray:
    rec = empty(n)
    rec["seq"] = np.arange(1, n + 1)
    rec["queue_id"], rec["fb_id"] = queue, fb
    rec["interval_ns"], rec["rate_kbps"] = 16 * MS, 10_000
    rec["t_ns"] = rec["seq"] * 16 * MS
    c = rec["cls"][:, CLASS_C]
    c["arr_pkts"] = c["dep_pkts"] = 10
    c["dep_bytes"] = np.linspace(10_000, 20_000, n).astype(np.uint32)
    c["sojourn_mean_ns"] = c["sojourn_max_ns"] = np.arange(n) * MS
    return rec


def _features(rec: np.ndarray) -> np.ndarray:
    return np.stack([rec["seq"], rec["cls"][:, CLASS_C]["sojourn_max_ns"] / MS], axis=1)


def test_windows_pad_and_slide() -> None:
    w = windows(np.arange(1, 7, dtype=np.float32).reshape(3, 2), 2)
    assert w.shape == (3, 2, 2)
    np.testing.assert_array_equal(w[0], [[0, 0], [1, 2]])
    np.testing.assert_array_equal(w[2], [[3, 4], [5, 6]])


def test_reward_and_next_state_come_one_interval_later(tmp_path) -> None:
    rec = _records(6)
    acts = np.zeros((6, levels.N_KNOBS), np.int64)
    acts[:, levels.TARGET] = np.arange(6) % levels.N_LEVELS[levels.TARGET]
    ep = episode_from_records(rec, acts, _features, 3, "gen-x", 11, {"name": "test"})
    assert len(ep) == 5 and ep.queue_id == 3
    np.testing.assert_allclose(ep.rewards, interval_rewards(rec)[1:])
    np.testing.assert_array_equal(ep.actions, acts[:-1])
    np.testing.assert_array_equal(ep.states[1:], ep.next_states[:-1])
    assert ep.states[0, -1, 0] == 1 and ep.next_states[0, -1, 0] == 2  # seq of records t, t+1
    np.testing.assert_array_equal(ep.records["seq"], rec["seq"][1:])
    pool = load_interval_pool(write_interval_pool(tmp_path / "p.npz", [ep], {"f": "test"}))
    assert len(pool) == 5 and pool.dones[-1]


def test_bad_inputs_are_named() -> None:
    rec = _records(4, fb=FB_PIE)
    acts = np.zeros((4, levels.N_KNOBS), np.int64)
    with pytest.raises(ValueError, match="at least two"):
        episode_from_records(rec[:1], acts[:1], _features, 2, "s", 1, {"name": "t"})
    bad = acts.copy()
    bad[0, levels.STEP] = 2  # PIE has no L step
    with pytest.raises(ValueError, match="does not accept"):
        episode_from_records(rec, bad, _features, 2, "s", 1, {"name": "t"})
    with pytest.raises(ValueError, match="sequence order"):
        episode_from_records(rec[::-1], acts, _features, 2, "s", 1, {"name": "t"})
    with pytest.raises(ValueError, match="expected"):
        episode_from_records(rec, acts[:3], _features, 2, "s", 1, {"name": "t"})
    with pytest.raises(ValueError, match="feature function"):
        episode_from_records(rec, acts, lambda r: np.zeros(3), 2, "s", 1, {"name": "t"})


def test_split_by_queue_orders_each_queue() -> None:
    both = np.concatenate([_records(3, queue=1), _records(4, queue=2)])
    rng = np.random.default_rng(0)
    parts = split_by_queue(both[rng.permutation(len(both))])
    assert sorted(parts) == [1, 2] and len(parts[2]) == 4
    assert (np.diff(parts[1]["seq"].astype(int)) > 0).all()
    with pytest.raises(ValueError, match="one queue"):
        episode_from_records(both, np.zeros((7, 4), np.int64), _features, 2, "s", 1, {"name": "t"})
