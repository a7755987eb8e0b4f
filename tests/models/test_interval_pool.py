"""Pool format 2 and the residual level tables: round trip, and every malformation named."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from aqmllm.models.rl import levels
from aqmllm.models.rl.pool import (
    PoolError,
    load_interval_pool,
    merge_interval_pools,
    schema_fingerprint,
    write_interval_pool,
)
from aqmllm.models.rl.records import FB_CODEL, FB_DUALPI2, FB_PIE, empty
from rl_helpers import SCHEMA, toy_episodes


def test_level_tables_and_masks() -> None:
    assert all(k.levels[0] == 0 for k in levels.KNOBS)
    mask = levels.valid_mask(np.array([FB_DUALPI2, FB_PIE, FB_CODEL]))
    per = [
        mask[:, o : o + n].sum(axis=1) for o, n in zip(levels.OFFSETS, levels.N_LEVELS, strict=True)
    ]
    assert per[levels.TARGET].tolist() == [7, 7, 7]
    assert per[levels.MULT_C].tolist() == [7, 7, 1]  # CoDel has no probability to scale
    assert per[levels.STEP].tolist() == [6, 1, 1]  # only DualPI2 has an L step
    res = levels.to_residual(np.array([[0, 0, 0, 0], [3, 1, 6, 5]]))
    assert res["res_log2_target"].tolist() == [0, -256]
    assert res["res_log2_mult"].tolist() == [[0, 0], [-768, 768]]
    assert res["res_step_us"].tolist() == [0, 4000]
    back = levels.nearest_levels(
        np.array([-1.0]), np.array([-3.0]), np.array([2.9]), np.array([3900])
    )
    assert back.tolist() == [[3, 1, 6, 5]]
    step_values = [levels.KNOBS[levels.STEP].levels[i] for i in levels.sorted_levels(levels.STEP)]
    assert step_values == [250, 500, 0, 1000, 2000, 4000]  # "keep" sits at the default 1 ms
    with pytest.raises(ValueError, match="knob step"):
        levels.to_residual(np.array([[0, 0, 0, 6]]))


def test_round_trip_keeps_everything(tmp_path: Path) -> None:
    eps = toy_episodes()
    recs = empty(len(eps[0]))
    eps[0].records = recs
    for e in eps[1:]:
        e.records = empty(len(e))
    path = write_interval_pool(tmp_path / "p.npz", eps, SCHEMA)
    pool = load_interval_pool(path, schema_fingerprint(SCHEMA))
    assert len(pool) == sum(len(e) for e in eps) and pool.state_shape == (4, 3)
    np.testing.assert_array_equal(pool.actions[: len(eps[0])], eps[0].actions)
    np.testing.assert_array_equal(pool.states[: len(eps[0])], eps[0].states)
    assert pool.dones.sum() == len(eps) and pool.dones[len(eps[0]) - 1]
    assert pool.episodes[1]["seed"] == 1 and pool.episodes[0]["behaviour"]["name"]
    assert pool.records is not None and pool.records.dtype.names == recs.dtype.names
    both = merge_interval_pools([pool, pool])
    assert len(both.episodes) == 2 * len(eps) and both.episode.max() == 2 * len(eps) - 1
    sub = both.subset(both.episode >= len(eps))
    assert sub.episode.min() == 0 and len(sub.episodes) == len(eps)


def _rewrite(src: Path, dst: Path, header_fn=None, **arrays) -> Path:
    data = dict(np.load(src, allow_pickle=False))
    header = json.loads(str(data["header"]))
    if header_fn:
        header_fn(header)
    data["header"] = np.array(json.dumps(header))
    data.update(arrays)
    np.savez(dst, **data)
    return dst


@pytest.fixture()
def pool_file(tmp_path: Path) -> Path:
    return write_interval_pool(tmp_path / "p.npz", toy_episodes(), SCHEMA)


def test_malformed_pools_are_named(pool_file: Path, tmp_path: Path) -> None:
    good = dict(np.load(pool_file, allow_pickle=False))
    n = len(good["actions"])
    bad_actions = good["actions"].copy()
    bad_actions[3, levels.STEP] = 9
    pie_step = good["actions"].copy()
    last = np.nonzero(good["episode"] == good["episode"].max())[0][0]  # a PIE episode
    pie_step[last, levels.STEP] = 2
    nan_states = good["states"].copy()
    nan_states[0, 0, 0] = np.nan
    dones = good["dones"].copy()
    dones[5] = True
    cases = [
        ({"actions": bad_actions}, "knob step has a level outside"),
        ({"actions": pie_step}, "does not accept"),
        ({"states": nan_states}, "NaN or infinite"),
        ({"dones": dones}, "done must hold exactly"),
        ({"rewards": good["rewards"][:-1]}, f"has {n - 1} rows, expected {n}"),
    ]
    for i, (arrays, message) in enumerate(cases):
        with pytest.raises(PoolError, match=message):
            load_interval_pool(_rewrite(pool_file, tmp_path / f"b{i}.npz", **arrays))

    def other_levels(h):
        h["levels"]["step"]["levels"] = [0, 1]

    def v1(h):
        h["format"] = 1
        h.pop("kind")

    def steps(h):
        h["episodes"][0]["steps"] = 3

    for i, (fn, message) in enumerate(
        [
            (other_levels, "level tables differ"),
            (v1, "format 1 \\(per-packet\\)"),
            (steps, "header says 3"),
        ]
    ):
        with pytest.raises(PoolError, match=message):
            load_interval_pool(_rewrite(pool_file, tmp_path / f"h{i}.npz", fn))
    with pytest.raises(PoolError, match="state schema"):
        load_interval_pool(pool_file, "0123456789abcdef")
    with pytest.raises(PoolError, match="no such pool"):
        load_interval_pool(tmp_path / "missing.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(PoolError, match="not an experience pool"):
        load_interval_pool(tmp_path / "junk.npz")


def test_writer_refuses_bad_episodes(tmp_path: Path) -> None:
    eps = toy_episodes()
    with pytest.raises(PoolError, match="behaviour must describe"):
        write_interval_pool(tmp_path / "x.npz", [replace(eps[0], behaviour={})], SCHEMA)
    with pytest.raises(PoolError, match="expected"):
        write_interval_pool(
            tmp_path / "x.npz", [eps[0], replace(eps[1], states=eps[1].states[:, :2])], SCHEMA
        )
    with pytest.raises(PoolError, match="no episodes"):
        write_interval_pool(tmp_path / "x.npz", [], SCHEMA)
    assert not (tmp_path / "x.npz").exists()
