"""The interval student trained by IQL on pools: a checkpoint the daemon loads, and its origin."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from aqmllm.models.interval_runtime import load_interval_policy
from aqmllm.models.rl import levels
from aqmllm.models.rl.episodes import episode_from_records
from aqmllm.models.rl.iql import IQLConfig
from aqmllm.models.rl.pool import PoolError, write_interval_pool
from aqmllm.models.rl.records import CLASS_C, empty
from aqmllm.models.rl.train_interval import digest, main, train, usable_by_name
from aqmllm.models.rl.trainer import TrainPlan

FEATURES, WINDOW = "interval-v2", 4


def _rows(recs: np.ndarray) -> np.ndarray:
    from aqmllm.models.interval_features import feature_fn
    from aqmllm.models.interval_history import IntervalHistory

    fn, n = feature_fn(FEATURES)
    h = IntervalHistory(WINDOW)
    h.track(FEATURES, fn, n)
    out = np.zeros((len(recs), n), np.float32)
    for t in range(len(recs)):
        h.update(recs[t : t + 1])
        out[t] = h.features(FEATURES, recs["queue_id"][:1].astype(np.int64), 1)[0, -1]
    return out


def _pool(path: Path, episodes: int = 4, steps: int = 40) -> Path:
    rng = np.random.default_rng(0)
    eps = []
    for i in range(episodes):
        rec = empty(steps)
        rec["seq"] = np.arange(1, steps + 1)
        rec["interval_ns"], rec["busy_ns"] = 16_000_000, 15_000_000
        rec["rate_kbps"], rec["target_ns"] = 10_000, 15_000_000
        c = rec["cls"][:, CLASS_C]
        c["dep_pkts"] = 13
        c["dep_bytes"] = 13 * 1500
        c["sojourn_max_ns"] = rng.integers(0, 30_000_000, steps)
        acts = np.zeros((steps, levels.N_KNOBS), np.int64)
        acts[:, levels.TARGET] = rng.integers(0, levels.N_LEVELS[levels.TARGET], steps)
        eps.append(
            episode_from_records(
                rec, acts, _rows, WINDOW, f"gen-toy-{i % 2}", i, {"name": "random"}
            )
        )
    schema = {"features": FEATURES, "window": WINDOW, "n_features": 18}
    return write_interval_pool(path, eps, schema)


def test_a_trained_student_loads_as_the_daemon_would_and_says_where_it_came_from(
    tmp_path: Path,
) -> None:
    pool = _pool(tmp_path / "pool.npz")
    plan = TrainPlan(critic_steps=30, policy_steps=20, eval_every=10, seed=1)
    path = train([str(pool)], tmp_path / "run", IQLConfig(batch_size=32), plan, "toy-student")
    policy = load_interval_policy(path)
    assert policy.name == "toy-student" and (policy.window, policy.n_features) == (WINDOW, 18)
    manifest = json.loads(Path(path).read_text())
    t = manifest["training"]
    assert t["pools"] == [{"path": str(pool), "sha256": digest(pool)}]
    assert t["pool_episodes"] == 4 and t["pool_steps"] == 4 * 39
    assert t["iql"]["batch_size"] == 32 and t["plan"]["critic_steps"] == 30
    assert "no teacher" in t["trainer"]
    assert manifest["interval"]["usable"] == usable_by_name()
    assert usable_by_name()["codel"] == ["target"]
    assert (tmp_path / "run" / "history.json").exists()


def test_a_pool_without_a_feature_schema_is_refused(tmp_path: Path, capsys) -> None:
    from rl_helpers import SCHEMA, toy_episodes

    bad = write_interval_pool(tmp_path / "toy.npz", toy_episodes(), {**SCHEMA, "features": ""})
    assert main(["--pool", str(bad), "--out", str(tmp_path / "o"), "--critic-steps", "1"]) == 2
    assert "names no feature function" in capsys.readouterr().err
    with pytest.raises(PoolError):
        train([str(tmp_path / "missing.npz")], tmp_path / "o", IQLConfig(), TrainPlan(), "x")


def test_another_beta_reuses_a_finished_runs_critic(tmp_path: Path) -> None:
    import torch

    pool = _pool(tmp_path / "pool.npz")
    plan = TrainPlan(critic_steps=30, policy_steps=10, eval_every=10, seed=1)
    train([str(pool)], tmp_path / "a", IQLConfig(batch_size=32), plan, "a")
    state = tmp_path / "a" / "iql" / "iql_state.pt"
    path = train(
        [str(pool)], tmp_path / "b", IQLConfig(batch_size=32, beta=10), plan, "b",
        critic_from=state,
    )  # fmt: skip
    t = json.loads(Path(path).read_text())["training"]
    assert t["critic_from"] == {"path": str(state), "sha256": digest(state)}
    assert t["iql"]["beta"] == 10
    a = torch.load(state, weights_only=True)["critic"]
    b = torch.load(tmp_path / "b" / "iql" / "iql_state.pt", weights_only=True)["critic"]
    assert all(torch.equal(a[k], b[k]) for k in a)  # the critic was not trained again
    with pytest.raises(PoolError, match="cannot reuse its critic"):
        train([str(pool)], tmp_path / "c", IQLConfig(), plan, "c", critic_from=pool)
