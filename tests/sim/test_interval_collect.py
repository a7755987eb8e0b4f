"""Closed-loop pool collection: a behaviour run in ns-3 leaves a trace whose levels
reached the core, and the pool's states are the ones the daemon computes live."""

from __future__ import annotations

import importlib.util
import json
import subprocess
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from aqmllm.models.rl import levels
from aqmllm.sim.scenario import SCENARIO_DIR, load_scenario

ROOT = Path(__file__).resolve().parents[2]
needs_ns3 = pytest.mark.skipif(
    importlib.util.find_spec("ns") is None, reason="the PyPI package ns3 is not installed"
)
BEHAVIOUR = "interval:behaviour:perturbed-randomised,seed=11"


def _records(n: int) -> np.ndarray:
    from aqmllm.models.rl.records import CLASS_C, CLASS_L, empty

    rng = np.random.default_rng(3)
    rec = empty(n)
    rec["seq"] = np.arange(1, n + 1)
    rec["queue_id"], rec["fb_id"] = 2, 0
    rec["interval_ns"] = rng.choice([16_000_000, 16_000_000, 40_000_000], n)
    rec["t_ns"] = np.cumsum(rec["interval_ns"])
    rec["busy_ns"] = (rec["interval_ns"] * rng.uniform(0.5, 1, n)).astype(np.uint64)
    rec["rate_kbps"], rec["target_ns"] = 20_000, 15_000_000
    for c in (CLASS_C, CLASS_L):
        k = rec["cls"][:, c]
        k["arr_pkts"] = rng.integers(0, 200, n)
        k["dep_pkts"] = rng.integers(0, 200, n)
        k["dep_bytes"] = k["dep_pkts"] * 1500
        k["backlog_pkts"] = rng.integers(0, 100, n)
        k["sojourn_mean_ns"] = rng.integers(0, 20_000_000, n)
        k["sojourn_max_ns"] = k["sojourn_mean_ns"] * 2
    return rec


def test_replayed_features_are_the_daemons_live_states() -> None:
    from aqmllm.models.interval_features import feature_fn
    from aqmllm.models.interval_history import IntervalHistory
    from aqmllm.models.rl.episodes import windows
    from aqmllm.sim.interval_collect import FEATURES, WINDOW, replay_features

    recs = _records(50)
    offline = windows(replay_features(recs), WINDOW)
    fn, n = feature_fn(FEATURES)
    live = IntervalHistory(window=8)  # the daemon's window may be longer than the model's
    live.track(FEATURES, fn, n)
    for t in range(len(recs)):
        live.update(recs[t : t + 1])
        np.testing.assert_array_equal(live.features(FEATURES, np.array([2]), WINDOW)[0], offline[t])


@pytest.fixture(scope="module")
def traced(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, dict, Path]:
    subprocess.run(["make", "-s", "core"], cwd=ROOT, check=True)
    from aqmllm.sim.interval_collect import REF
    from aqmllm.sim.ns3.run import RunSpec, run

    sc = replace(load_scenario(SCENARIO_DIR / "eval" / "default.toml"), duration_s=3.0)
    work = tmp_path_factory.mktemp("collect")
    beh = run(RunSpec(sc, BEHAVIOUR, 1, keep_log=False), work)
    ref = run(RunSpec(sc, REF, 1, keep_log=False), work)
    for r, aqm in ((beh, BEHAVIOUR), (ref, REF)):
        r.update(status="ok", aqm=aqm)
    return beh, ref, work


@needs_ns3
def test_a_behaviour_run_traces_levels_that_reach_the_core(traced) -> None:
    beh, _, _ = traced
    with np.load(beh["interval_trace"]) as z:
        recs, acts = z["records"], z["actions"]
    assert len(recs) == len(acts) > 150  # 3 s of 16 ms intervals
    levels.check_actions(acts)
    assert len(np.unique(acts, axis=0)) > 3  # it explored
    # the level chosen on record t is what the core says was in effect in record t + 1
    values = np.asarray(levels.KNOBS[levels.TARGET].levels)
    chosen = np.round(values[acts[:-1, levels.TARGET]] * 256)
    in_effect = recs["res_log2_target"][1:]
    assert np.mean(chosen == in_effect) > 0.95


@needs_ns3
def test_traces_become_a_pool_with_scenario_seed_behaviour_and_outcome(traced) -> None:
    from aqmllm.models.rl.pool import load_interval_pool
    from aqmllm.sim.interval_collect import WINDOW, build_pool, state_schema

    beh, ref, work = traced
    path, n_ep, steps = build_pool([beh, ref], {(beh["scenario"], 1): ref}, work / "pool.npz")
    pool = load_interval_pool(path)
    assert n_ep == 2 and len(pool) == steps and pool.state_shape == (WINDOW, 18)
    assert pool.state_schema == state_schema()
    names = [e["behaviour"]["name"] for e in pool.episodes]
    assert names == ["perturbed-randomised,seed=11", "fallback,seed=0"]
    assert all(e["scenario"] == "eval-default" and e["seed"] == 1 for e in pool.episodes)
    out = pool.episodes[1]["outcomes"]
    assert out["score"] == 0.0 and out["beats"] is False  # the reference against itself
    assert pool.episodes[0]["outcomes"]["util"] == beh["utilisation"]
    assert json.dumps(pool.episodes)  # the header stays JSON


def test_collection_refuses_a_held_out_suite(tmp_path: Path, capsys) -> None:
    from aqmllm.sim.interval_collect import main

    rc = main(["--scenarios", str(SCENARIO_DIR / "eval"), "--out", str(tmp_path)])
    assert rc == 2 and "held-out" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_a_collection_with_nothing_to_pool_ends_in_one_sentence(
    tmp_path: Path, capsys, monkeypatch
) -> None:
    from aqmllm.sim import interval_collect

    gen = tmp_path / "gen"
    gen.mkdir()
    text = (SCENARIO_DIR / "eval" / "default.toml").read_text()
    (gen / "toy.toml").write_text(text.replace('name = "eval-default"', 'name = "gen-toy"'))

    def no_episode(*_args, **_kwargs):
        raise ValueError("no traced run finished: nothing to pool")

    monkeypatch.setattr(interval_collect, "collect", no_episode)
    rc = interval_collect.main(["--scenarios", str(gen), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert rc == 1 and "nothing to pool" in err and "Traceback" not in err, err


@needs_ns3
def test_departures_over_the_records_rate_are_the_judges_utilisation(traced) -> None:
    """interval-v4's link idle time is 1 - departures over the record's rate: on a real
    run those departures and that rate give the judge's utilisation, while the time the
    queue held packets (v3's idle columns) does not."""
    from aqmllm.models.rl.records import CLASS_C, CLASS_L, cls_field

    _, ref, _ = traced
    with np.load(ref["interval_trace"]) as z:
        recs = z["records"]
    after = recs[recs["t_ns"] > ref["warmup_s"] * 1e9]
    assert len(after) > 40 and (after["rate_kbps"] > 0).all()
    sent = (cls_field(after, "dep_bytes", CLASS_C) + cls_field(after, "dep_bytes", CLASS_L)).sum()
    capacity = (after["rate_kbps"] * 1000 / 8 * after["interval_ns"] / 1e9).sum()
    assert abs(sent / capacity - ref["utilisation"]) < 0.005
    held = after["busy_ns"].sum() / after["interval_ns"].sum()
    assert held < ref["utilisation"] - 0.05  # the link sends the last packet with the queue empty
