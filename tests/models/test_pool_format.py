"""Experience pools: round trip, validation, rewards, refusal of other schemas."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from aqmllm.bridge import layout
from aqmllm.models.pool import Episode, PoolError, load_pool, validate_pool, write_pool
from aqmllm.models.reward import returns_to_go, step_rewards


def test_round_trip(synthetic_pool: Path) -> None:
    pool = load_pool(synthetic_pool)
    summary = validate_pool(synthetic_pool)
    assert summary["episodes"] == 6 and summary["scenarios"] == ["a", "b", "c"]
    assert len(pool) == summary["steps"] > 1000
    assert pool.series.shape == (len(pool), 3, 16)
    assert np.isfinite(pool.rtg).all()


def test_other_schema_is_refused(synthetic_pool: Path, tmp_path: Path) -> None:
    data = dict(np.load(synthetic_pool))
    header = json.loads(str(data["header"]))
    header["schema_id"] = "feedfacefeedface"
    data["header"] = np.array(json.dumps(header))
    np.savez(tmp_path / "old.npz", **data)
    with pytest.raises(PoolError, match="feedfacefeedface differs"):
        load_pool(tmp_path / "old.npz")


def test_bad_episodes_are_refused(tmp_path: Path) -> None:
    r = np.zeros(3, dtype=layout.RECORD_DTYPE)
    r["ecn"] = layout.ECN_NOT_ECT
    with pytest.raises(PoolError, match="marks on Not-ECT"):
        write_pool(tmp_path / "x.npz", [Episode(r, np.full(3, 3, np.uint8), "s", "e")])
    with pytest.raises(PoolError, match="2 actions for 3 records"):
        write_pool(tmp_path / "x.npz", [Episode(r, np.ones(2, np.uint8), "s", "e")])
    with pytest.raises(PoolError, match="not an experience pool"):
        (tmp_path / "junk.npz").write_bytes(b"junk")
        load_pool(tmp_path / "junk.npz")


def test_rewards_price_delay_loss_and_marks() -> None:
    r = np.zeros(4, dtype=layout.RECORD_DTYPE)
    r["cls"] = [1, 1, 0, 0]
    r["qlen_pkts"] = 20
    r["sojourn_ns"] = [500_000, 5_000_000, 5_000_000, 5_000_000]
    acts = np.array([1, 1, 1, 2], np.uint8)
    rew = step_rewards(r, acts)
    assert rew[0] == 0.0  # L below its 1 ms target
    assert rew[1] < 0.0  # L far above its target
    assert rew[2] == 0.0  # the same delay is fine for C (15 ms target)
    assert rew[3] == pytest.approx(-0.5)  # a drop costs a packet
    rtg = returns_to_go(np.ones(4, np.float32), np.array([0, 0, 1, 1]), gamma=1.0)
    assert list(rtg) == [2.0, 1.0, 2.0, 1.0]
