"""The CMA-ES interval policy (issue 16, ablation (c)): a continuous interval student,
its zero = DualPI2 start, and the trainer's objective on fakes (no ns-3)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from aqmllm.bridge import layout
from aqmllm.daemon.interval_policies import parse_spec
from aqmllm.daemon.policies import PolicyError
from aqmllm.models.checkpoint import ModelError, seal_checkpoint
from aqmllm.models.interval_features import NAMES
from aqmllm.models.interval_history import IntervalHistory
from aqmllm.models.interval_runtime import load_interval_policy
from aqmllm.models.rl.linear_interval import N_FEATURES, LinearTarget, n_parameters, save_policy
from aqmllm.sim import cma_interval
from aqmllm.sim.cma_interval import Pair, population_scores, run_score
from safetensors.numpy import load_file

Q8 = layout.RES_Q8_ONE


def _records(n: int = 3) -> np.ndarray:
    recs = np.zeros(n, layout.INTERVAL_DTYPE)
    recs["queue_id"] = np.arange(n)
    recs["fb_id"] = [layout.FALLBACKS[f] for f in ("dualpi2", "pie", "codel")][:n]
    recs["interval_ns"] = 16_000_000
    recs["busy_ns"] = 8_000_000  # half busy: feature "busy" = 0.5
    recs["target_ns"] = 15_000_000
    return recs


def _residuals(folder: Path, recs: np.ndarray) -> dict[str, np.ndarray]:
    policy = load_interval_policy(folder)
    h = IntervalHistory(window=4)
    h.update(recs)
    policy.bind_history(h)
    return policy.residuals(recs)


def test_the_zero_policy_writes_zero_residuals(tmp_path: Path) -> None:
    assert n_parameters() == N_FEATURES + 1 == 19
    save_policy(LinearTarget(), tmp_path / "zero", {"name": "zero"})
    out = _residuals(tmp_path / "zero", _records())
    for key in ("res_log2_target", "res_log2_mult", "res_step_us"):
        assert not out[key].any(), key
    # and the daemon's loader (with the load-time probe) takes it by name
    assert parse_spec(f"model:{tmp_path / 'zero'}").name == "zero"


def test_a_linear_policy_scales_the_target_from_its_features(tmp_path: Path) -> None:
    m = LinearTarget()
    with torch.no_grad():
        m.weight[11, 0] = -2.0  # busy fraction (interval-v2 column 11)
        m.bias[0] = 0.5
    save_policy(m, tmp_path / "p", {"name": "p"})
    out = _residuals(tmp_path / "p", _records())
    # 0.5 - 2 x 0.5 = -0.5 octave on DualPI2; PIE and CoDel were never searched: zero
    assert out["res_log2_target"].tolist() == [-Q8 // 2, 0, 0]
    assert not out["res_log2_mult"].any() and not out["res_step_us"].any()
    with torch.no_grad():
        m.bias[0] = 40.0  # far past the kernel's x2: clipped to +1 octave, as the module does
    save_policy(m, tmp_path / "big", {"name": "big"})
    assert _residuals(tmp_path / "big", _records(1))["res_log2_target"].tolist() == [Q8]
    x = torch.tensor([[0.0] * 11 + [0.5] + [0.0] * 6], dtype=torch.float64)
    with torch.no_grad():
        assert float(m(x)) == 1.0


def test_interval_model_specs_refuse_bad_paths_in_one_sentence(tmp_path: Path) -> None:
    for spec, why in (
        ("model:", "needs the checkpoint's path"),
        (f"model:{tmp_path / 'absent'}", "no such checkpoint"),
        ("modelx:y", "fallback, constant"),
    ):
        with pytest.raises(PolicyError, match=why):
            parse_spec(spec)
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "manifest.json").write_text("{not json")
    with pytest.raises(PolicyError, match="not valid JSON"):
        parse_spec(f"model:{tmp_path / 'junk'}")


def test_continuous_outputs_are_checked_against_the_kernel_bounds(tmp_path: Path) -> None:
    folder = save_policy(LinearTarget(), tmp_path / "m", {"name": "m"})
    manifest_path = Path(folder) / "manifest.json" if Path(folder).is_dir() else Path(folder)
    for bad, why in (
        ({"target": [-3.0, 1.0]}, "range"),  # below the kernel's x1/4
        ({"target": [0.5, 1.0]}, "range"),  # zero must be inside: zero is the fallback
        ({"step": [0, 1]}, "not one of"),
        ({}, "must map knobs"),
    ):
        manifest = json.loads(manifest_path.read_text())
        manifest["interval"]["outputs"] = bad
        manifest_path.write_text(json.dumps(manifest))
        seal_checkpoint(manifest_path.parent)
        with pytest.raises(ModelError, match=why):
            load_interval_policy(manifest_path.parent)


def _run(u: float, c: float, l_p99: float = 0.5) -> dict:
    return {
        "status": "ok",
        "utilisation": u,
        "C": {"delay_p99_ms": c},
        "L": {"delay_p99_ms": l_p99},
    }


def test_the_objective_is_the_clipped_mean_score_against_dualpi2() -> None:
    ref = _run(0.99, 20.0)
    assert run_score(_run(0.99, 10.0), ref) == pytest.approx(np.log(2.0))
    assert run_score(ref, ref) == 0.0
    # 30 % utilisation lost: -59 unclipped, one run must not drown the batch
    assert run_score(_run(0.69, 10.0), ref) == cma_interval.SCORE_MIN
    assert run_score({"status": "failed"}, ref) == cma_interval.SCORE_MIN
    assert run_score(None, ref) == cma_interval.SCORE_MIN
    with pytest.raises(ValueError, match="no scenarios"):
        population_scores(["x"], [], lambda wanted: {})


def test_population_scores_pair_each_candidate_with_dualpi2_on_the_same_runs() -> None:
    batch = [Pair("a", "a.toml", 1), Pair("b", "b.toml", 2)]
    asked: list = []

    def fake_run(wanted: list) -> dict:
        asked.extend(wanted)
        # DualPI2 at 20 ms everywhere; candidate "half" halves it on a, equals it on b
        out = {}
        for aqm, p in wanted:
            c = 10.0 if (aqm == "half" and p.scenario == "a") else 20.0
            out[(aqm, p)] = _run(0.99, c)
        return out

    scores = population_scores(["half", None, "same"], batch, fake_run)
    assert scores[0] == pytest.approx(np.log(2.0) / 2)
    assert scores[1] == cma_interval.SCORE_MIN  # refused before any run
    assert scores[2] == 0.0
    assert {a for a, _ in asked} == {"dualpi2", "half", "same"}
    assert sorted(p.scenario for a, p in asked if a == "dualpi2") == ["a", "b"]


def test_the_trainer_refuses_held_out_suites() -> None:
    root = Path(__file__).resolve().parents[2] / "sim" / "scenarios" / "eval"
    with pytest.raises(ValueError, match="held-out"):
        cma_interval.pairs_of([str(root)], 1)


def test_the_integrating_policy_steps_the_target_in_effect(tmp_path: Path) -> None:
    from aqmllm.models.interval_features import V2_NAMES
    from aqmllm.models.rl.linear_interval import (
        RATE_SCALE,
        RES_TARGET_COLUMN,
        IntegralTarget,
        save_integral_policy,
    )

    assert V2_NAMES[RES_TARGET_COLUMN] == "res_target"
    recs = _records()
    recs["res_log2_target"] = [-Q8 // 2, -Q8 // 2, 0]  # half an octave down in effect
    # zero parameters hold what is in effect: DualPI2's -0.5 stays -0.5, never 0
    save_integral_policy(IntegralTarget(), tmp_path / "hold", {"name": "hold"})
    assert _residuals(tmp_path / "hold", recs)["res_log2_target"].tolist() == [-Q8 // 2, 0, 0]
    m = IntegralTarget()
    with torch.no_grad():
        m.weight[11, 0] = -8.0  # busy fraction 0.5: -4 units = -4/32 octave this interval
    save_integral_policy(m, tmp_path / "p", {"name": "p"})
    step = round(-4 / RATE_SCALE * Q8)
    assert _residuals(tmp_path / "p", recs)["res_log2_target"].tolist() == [-Q8 // 2 + step, 0, 0]
    # the module the search moves computes what the daemon runs, clip included
    x = torch.zeros((1, N_FEATURES), dtype=torch.float64)
    x[0, RES_TARGET_COLUMN], x[0, 11] = -1.98, 0.5
    with torch.no_grad():
        assert float(m(x)) == -2.0


def test_the_integrating_policy_searches_only_the_named_inputs(tmp_path: Path) -> None:
    from aqmllm.models.rl.linear_interval import RATE_SCALE, IntegralTarget, save_integral_policy
    from aqmllm.models.rl.search_space import integral_space

    space = integral_space(["busy", "gap"])
    m = space.make()
    assert sum(p.numel() for p in m.parameters()) == 3  # two weights and the bias
    with torch.no_grad():
        m.weight[:, 0] = torch.tensor([-8.0, 16.0])
        m.bias[0] = 2.0
    save_integral_policy(m, tmp_path / "p", {"name": "p"})
    recs = _records(1)
    recs["flags"] = layout.INTERVAL_FLAGS["gap"]
    # (2 - 8 x 0.5 + 16 x 1) / 32 octave up from zero
    want = round((2.0 - 4.0 + 16.0) / RATE_SCALE * Q8)
    assert _residuals(tmp_path / "p", recs)["res_log2_target"].tolist() == [want]
    for bad, why in ((["res_target"], "integrator itself"), (["nope"], "no interval-v2 feature")):
        with pytest.raises(ValueError, match=why):
            integral_space(bad)
    assert IntegralTarget().weight.shape == (N_FEATURES - 1, 1)


def test_the_integrating_policy_over_v3_steps_on_idle_time_and_keeps_its_ceiling(
    tmp_path: Path,
) -> None:
    from aqmllm.models.checkpoint import read_manifest
    from aqmllm.models.rl.linear_interval import (
        RATE_SCALE,
        RES_TARGET_COLUMN,
        save_integral_policy,
    )
    from aqmllm.models.rl.search_space import integral_space

    v3 = NAMES["interval-v3"]
    assert v3[RES_TARGET_COLUMN] == "res_target"  # v3 keeps v2's positions
    space = integral_space(["idle_1s", "c_trough_1s"], schema="interval-v3", ceiling=0.0)
    assert space.start == {"standardised_over": [], "center": None, "scale": None,
                           "schema": "interval-v3", "ceiling": 0.0}  # fmt: skip
    m = space.make()
    assert sum(p.numel() for p in m.parameters()) == 3
    with torch.no_grad():
        m.weight[:, 0] = torch.tensor([8.0, -4.0])  # idle raises, a standing queue lowers
        m.bias[0] = -1.0  # and with neither it drifts down
    w, b = m.exported()
    assert w.shape == (len(v3), 1) and w[RES_TARGET_COLUMN, 0] == 1.0
    x = torch.zeros((3, len(v3)), dtype=torch.float64)
    x[:, RES_TARGET_COLUMN] = -0.5
    x[1, v3.index("idle_1s")] = 1.0  # 1 % idle: (8 - 1) / 32 octave up
    x[2, v3.index("idle_1s")] = 8.0  # idling hard: up, but never above the classic target
    with torch.no_grad():
        got = m(x)[:, 0].tolist()
    assert got == pytest.approx([-0.5 - 1 / RATE_SCALE, -0.5 + 7 / RATE_SCALE, 0.0])
    save_integral_policy(m, tmp_path / "p", {"name": "p"})
    manifest, _ = read_manifest(tmp_path / "p", mode="interval")
    assert manifest["interval"]["features"] == "interval-v3"
    assert manifest["interval"]["outputs"] == {"target": [-2.0, 0.0]}
    assert manifest["architecture"]["ceiling"] == 0.0
    assert manifest["architecture"]["searched_features"] == ["idle_1s", "c_trough_1s"]
    # the daemon's runtime clips to the manifest's range: a drift up stops at the classic target
    with torch.no_grad():
        m.bias[0] = 64.0
    save_integral_policy(m, tmp_path / "up", {"name": "up"})
    assert _residuals(tmp_path / "up", _records(1))["res_log2_target"].tolist() == [0]
    assert parse_spec(f"model:{tmp_path / 'up'}").name == "up"  # the load-time probe takes it
    for kwargs, why in (
        ({"features": ["idle_1s"]}, "no interval-v2 feature 'idle_1s'"),  # v2 has no idle time
        ({"features": ["idle_1s"], "schema": "interval-v3", "ceiling": 2.0}, "must lie in"),
        ({"features": ["res_target"], "schema": "interval-v3"}, "integrator itself"),
        ({"features": ["busy"], "schema": "interval-v9"}, "interval-v2, interval-v3, interval-v4"),
    ):
        with pytest.raises(ValueError, match=why):
            integral_space(**kwargs)


def _write_v2_pool(path: Path, states: np.ndarray, features: str = "interval-v2") -> None:
    from aqmllm.models.rl import levels
    from aqmllm.models.rl.pool import IntervalEpisode, write_interval_pool
    from aqmllm.models.rl.records import FB_DUALPI2

    n = len(states)
    episode = IntervalEpisode(
        states=states,
        actions=np.zeros((n, levels.N_KNOBS), np.uint8),
        rewards=np.zeros(n, np.float32),
        next_states=states,
        valid=levels.valid_mask(np.full(n, FB_DUALPI2)),
        scenario="toy",
        seed=1,
        behaviour={"name": "toy"},
    )
    schema = {"features": features, "window": states.shape[1], "n_features": states.shape[2]}
    write_interval_pool(path, [episode], schema)


def test_pool_standardisation_centres_the_step_where_the_pools_sit(tmp_path: Path) -> None:
    from aqmllm.models.interval_features import V2_NAMES
    from aqmllm.models.rl.linear_interval import RATE_SCALE, save_integral_policy
    from aqmllm.models.rl.search_space import integral_space

    busy = V2_NAMES.index("busy")
    states = np.zeros((11, 4, N_FEATURES), np.float32)
    states[:, -1, busy] = np.linspace(0.0, 1.0, 11)  # median 0.5, 10-90 % range 0.8
    states[:, 0, busy] = 9.0  # older rows of the window are not the newest record
    _write_v2_pool(tmp_path / "pool.npz", states)
    space = integral_space(["busy", "gap"], [str(tmp_path / "pool.npz")])
    assert space.start["center"] == pytest.approx((0.5, 0.0))
    assert space.start["scale"] == pytest.approx((0.8 / 2.56, 1.0))  # gap is constant: 1
    m = space.make()
    with torch.no_grad():
        m.weight[0, 0] = -4.0
    save_integral_policy(m, tmp_path / "p", {"name": "p"})
    # the records are half busy: at the pools' median the step is zero
    assert _residuals(tmp_path / "p", _records(1))["res_log2_target"].tolist() == [0]
    recs = _records(1)
    recs["busy_ns"] = recs["interval_ns"]  # fully busy: 0.5 above the median
    want = round(-4.0 * 0.5 / (0.8 / 2.56) / RATE_SCALE * Q8)
    assert _residuals(tmp_path / "p", recs)["res_log2_target"].tolist() == [want]
    np.savez(tmp_path / "junk.npz", other=np.zeros(3))
    with pytest.raises(ValueError, match="not a behaviour pool"):
        integral_space(["busy"], [str(tmp_path / "junk.npz")])
    _write_v2_pool(tmp_path / "other.npz", states, features="issue15-smoke")
    with pytest.raises(ValueError, match="not interval-v2 features"):
        integral_space(["busy"], [str(tmp_path / "other.npz")])


def test_the_committed_integrating_policy_loads_and_names_generated_data_only() -> None:
    from aqmllm.models.checkpoint import load_tensors, read_manifest
    from aqmllm.models.rl.linear_interval import RES_TARGET_COLUMN

    folder = Path(__file__).resolve().parents[2] / "models" / "ablation" / "cma-integral"
    assert parse_spec(f"model:{folder}").name == "cma-integral"
    manifest, _ = read_manifest(folder, mode="interval")
    assert manifest["architecture"]["name"] == "integral-target"
    w = load_tensors(manifest, folder)["l0.weight"][:, 0]
    assert w[RES_TARGET_COLUMN] == pytest.approx(1.0, abs=1e-3)  # it integrates
    summary = json.loads((folder / "search-summary.json").read_text())
    folders = [*summary["train"], *summary["valid"], *summary["start"]["standardised_over"]]
    # generated by the closed loop's generator, never a held-out suite's folder
    assert folders and all(f.startswith("out/loop/") for f in folders), folders
    assert summary["train_pairs"] > 0 and summary["valid_pairs"] > 0


@pytest.mark.parametrize(
    ("name", "data", "probes", "generations", "seeds"),
    [
        ("cma-seedmean", "out/loop/", {"dualpi2@14ms", "dualpi2@16ms", "dualpi2@10ms"}, 10, 4),
        ("cma-long", "out/long/", {"dualpi2@14ms", "dualpi2@16ms"}, 2, 4),
        ("cma-long2", "out/long/", {"dualpi2@14ms", "dualpi2@16ms"}, 9, 2),
        ("cma-v3", "out/long/", {"dualpi2@14ms", "dualpi2@16ms"}, 16, 2),
    ],
)
def test_the_committed_seed_mean_policies_load_and_were_averaged_over_generated_seeds(
    name: str, data: str, probes: set[str], generations: int, seeds: int
) -> None:
    from aqmllm.models.checkpoint import read_manifest

    folder = Path(__file__).resolve().parents[2] / "models" / "ablation" / name
    assert parse_spec(f"model:{folder}").name == name
    manifest, _ = read_manifest(folder, mode="interval")
    assert manifest["architecture"]["name"] == "linear-target"
    assert manifest["training"]["average_seeds"] == seeds
    summary = json.loads((folder / "search-summary.json").read_text())
    assert all(f.startswith(data) for f in [*summary["train"], *summary["valid"]])
    # the pick is the finalist with the higher validation score; the probes ride beside
    assert summary["picked"] == max(summary["validation"], key=summary["validation"].get)
    assert set(summary["probe"]) == probes
    assert len(summary["history"]) == summary["generations"] == generations
    # the schema it was searched in is the one it loads with
    schema = summary["parameters"].get("schema", "interval-v2")
    assert manifest["interval"]["features"] == schema
    searched = manifest["architecture"].get("searched_features")
    if searched is not None:  # a subset: every other column's weight is exactly zero
        weight = load_file(str(folder / "weights.safetensors"))["l0.weight"][:, 0]
        names = NAMES[schema]
        assert searched == summary["parameters"]["features"]
        assert [n for n, w in zip(names, weight, strict=True) if w != 0] == searched


@pytest.mark.parametrize(
    ("name", "schema", "features", "generations"),
    [
        ("cma-idle", "interval-v3", ["idle_1s", "idle_8s", "c_trough_1s"], 7),
        ("cma-link", "interval-v4", ["link_idle_1s", "link_idle_8s", "c_trough_1s"], 3),
    ],
)
def test_the_committed_one_sided_integrators_never_raise_the_target(
    name: str, schema: str, features: list[str], generations: int
) -> None:
    from aqmllm.models.checkpoint import read_manifest
    from aqmllm.models.rl.linear_interval import RATE_SCALE, RES_TARGET_COLUMN

    folder = Path(__file__).resolve().parents[2] / "models" / "ablation" / name
    assert parse_spec(f"model:{folder}").name == name
    manifest, _ = read_manifest(folder, mode="interval")
    arch, table = manifest["architecture"], manifest["interval"]
    assert arch["name"] == "integral-target" and arch["ceiling"] == 0.0
    assert table["features"] == schema and table["outputs"] == {"target": [-2.0, 0.0]}
    assert arch["searched_features"] == features
    summary = json.loads((folder / "search-summary.json").read_text())
    assert all(f.startswith("out/long/") for f in [*summary["train"], *summary["valid"]])
    assert summary["picked"] == max(summary["validation"], key=summary["validation"].get)
    assert set(summary["probe"]) == {"dualpi2@14ms", "dualpi2@12ms"}
    assert len(summary["history"]) == summary["generations"] == generations
    assert manifest["training"]["average_seeds"] == 2
    # the weights are the searched step: 1 on the integrator, w / 32 on the named columns
    weight = load_file(str(folder / "weights.safetensors"))["l0.weight"][:, 0]
    names = NAMES[schema]
    want = np.zeros(len(names))
    want[RES_TARGET_COLUMN] = 1.0
    for n, w in zip(features, summary["parameters"]["weight"], strict=True):
        want[names.index(n)] = w / RATE_SCALE
    np.testing.assert_allclose(weight, want, rtol=1e-6, atol=1e-9)
    # even a link idling hard cannot push it above DualPI2's target
    recs = _records(1)
    recs["busy_ns"] = 0
    recs["rate_kbps"] = 10_000
    recs["res_log2_target"] = 0
    assert _residuals(folder, recs)["res_log2_target"].tolist() == [0]


def test_a_group_is_scored_once_on_its_seed_means_as_the_judge_does() -> None:
    # DualPI2 at 20 ms and 0.99 on both seeds; the candidate halves C p99 but its
    # utilisation swings 3 points either way between seeds (short chaotic runs):
    # run by run it pays the utilisation penalty on one seed, on seed means nothing
    a1, a2 = Pair("a", "a.toml", 1), Pair("a", "a.toml", 2)
    ref = _run(0.99, 20.0)
    swing = {a1: _run(0.96, 10.0), a2: _run(1.02, 10.0)}

    def fake_run(wanted: list) -> dict:
        return {(aqm, p): ref if aqm == "dualpi2" else swing[p] for aqm, p in wanted}

    by_run = population_scores(["swing"], [a1, a2], fake_run)[0]
    by_group = population_scores(["swing"], [(a1, a2)], fake_run)[0]
    assert by_group == pytest.approx(np.log(2.0))
    assert by_run == pytest.approx((cma_interval.SCORE_MIN + np.log(2.0)) / 2)
    # one failed seed fails the group: never judged on the seeds that finished
    swing[a2] = {"status": "failed"}
    assert population_scores(["swing"], [(a1, a2)], fake_run)[0] == cma_interval.SCORE_MIN


def test_seed_mean_is_the_judges_point_and_keeps_a_class_without_packets_empty() -> None:
    m = cma_interval.seed_mean([_run(0.9, 10.0, 1.0), _run(1.0, 30.0, 3.0)])
    assert m == {
        "status": "ok",
        "utilisation": pytest.approx(0.95),
        "C": {"delay_p99_ms": pytest.approx(20.0)},
        "L": {"delay_p99_ms": pytest.approx(2.0)},
    }
    no_l = {"status": "ok", "utilisation": 0.9, "C": {"delay_p99_ms": 5.0}, "L": {}}
    assert cma_interval.seed_mean([no_l])["L"] == {}  # type: ignore[index]
    assert cma_interval.seed_mean([]) is None


def test_groups_take_own_seeds_first_then_the_judges_derived_ones(tmp_path: Path) -> None:
    from aqmllm.sim.generate_cli import main as generate

    assert (
        generate(
            ["generate", "--family", "steady", "--n", "2", "--seed", "3", "--out", str(tmp_path)]
        )
        == 0
    )
    pairs = cma_interval.pairs_of([str(tmp_path)], 99)
    groups = cma_interval.groups_of([str(tmp_path)], 4)
    assert len(groups) == 2 and all(len(g) == 4 for g in groups)
    for g in groups:
        own = [p.seed for p in pairs if p.path == g[0].path]
        assert [p.seed for p in g[: len(own)]] == own
        assert [p.seed for p in g[len(own) :]] == [max(own) + 1000 * k for k in (1, 2)]
        assert len({p.seed for p in g}) == 4 and len({p.path for p in g}) == 1
    one = cma_interval.groups_of([str(tmp_path)], 1)
    assert [[p.seed for p in g] for g in one] == [[g[0].seed] for g in groups]
    with pytest.raises(ValueError, match="at least 1 seed"):
        cma_interval.groups_of([str(tmp_path)], 0)
    held = Path(__file__).resolve().parents[2] / "sim" / "scenarios" / "eval"
    with pytest.raises(ValueError, match="held-out"):
        cma_interval.groups_of([str(held)], 4)


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        (["--standardise-from", "pool"], "is for --space integral only"),
        (["--start", "x", "--features", "gap"], "not --start's"),
        (["--start", "x", "--schema", "interval-v3"], "not --start's"),
        (["--ceiling", "0"], "is for --space integral only"),
        (["--space", "integral", "--ceiling", "1.5"], "must lie in [0, 1]"),
        (["--space", "integral", "--ceiling", "-0.5"], "must lie in [0, 1]"),
        (
            ["--space", "integral", "--schema", "interval-v3", "--standardise-from", "p"],
            "cannot standardise interval-v3",
        ),
        (["--schema", "interval-v3", "--features", "busy", "idle_2s"], "no interval-v3 feature"),
        (["--features", "idle_1s"], "no interval-v2 feature 'idle_1s'"),
        (["--average-seeds", "0"], "at least 1 seed"),
        (["--probe", "nosuch@5ms"], "unknown AQM 'nosuch'"),
        (["--probe", "fifo@5ms"], "takes no target"),
    ],
)
def test_bad_options_are_refused_in_one_sentence_before_any_run(
    tmp_path: Path, capsys: pytest.CaptureFixture, extra: list[str], says: str
) -> None:
    base = ["--train", str(tmp_path), "--valid", str(tmp_path), "--out", str(tmp_path / "o")]
    assert cma_interval.main([*base, *extra]) == 2
    err = capsys.readouterr().err
    assert says in err and "Traceback" not in err, err
    assert not (tmp_path / "o").exists()


def test_the_search_validates_its_finalists_and_scores_probes_on_the_same_groups(
    tmp_path: Path,
) -> None:
    # a whole (tiny) search on a fake runner: no ns-3.  DualPI2 holds C p99 at 20 ms;
    # the probe at 10 ms; every candidate at 15 ms, so all but the probe score log(4/3)
    g = [tuple(Pair(f"s{i}", f"s{i}.toml", k) for k in (1, 2)) for i in range(3)]
    asked: list = []

    class FakeRunner:  # NS3Runner's face: called with jobs, counts runs and CPU
        runs, cpu_s = 0, 0.0

        def __call__(self, wanted: list) -> dict:
            asked.extend(wanted)
            self.runs += len(wanted)
            c = {"dualpi2": 20.0, "dualpi2@10ms": 10.0}
            return {(aqm, p): _run(0.99, c.get(aqm, 15.0)) for aqm, p in wanted}

    fake_run = FakeRunner()
    out = tmp_path / "o"
    args = cma_interval.parse_args(
        ["--train", "x", "--valid", "y", "--out", str(out), "--generations", "1"]
        + ["--popsize", "3", "--batch", "2", "--average-seeds", "2", "--probe", "dualpi2@10ms"]
    )
    summary = cma_interval._search(args, out, g, g[:2], fake_run)  # type: ignore[arg-type]
    assert summary["validation"] == {
        "mean": pytest.approx(np.log(4 / 3)),
        "best": pytest.approx(np.log(4 / 3)),
    }
    assert summary["probe"] == {"dualpi2@10ms": pytest.approx(np.log(2.0))}
    assert summary["average_seeds"] == 2 and summary["generations"] == 1
    # the probe ran on the validation groups only, every seed of them
    probed = sorted((p.scenario, p.seed) for a, p in asked if a == "dualpi2@10ms")
    assert probed == [("s0", 1), ("s0", 2), ("s1", 1), ("s1", 2)]
    manifest = json.loads((out / "final" / "manifest.json").read_text())
    assert manifest["training"]["average_seeds"] == 2


def test_a_linear_policy_over_named_v3_columns_weighs_only_those(tmp_path: Path) -> None:
    from aqmllm.models.interval_features import V3_NAMES, feature_fn
    from aqmllm.models.rl.search_space import linear_space

    space = linear_space("interval-v3", ["idle_1s", "c_trough_1s"])
    m = space.make()
    assert sum(p.numel() for p in m.parameters()) == 3  # two weights and the bias
    with torch.no_grad():
        m.weight[:, 0] = torch.tensor([0.25, -0.5])
        m.bias[0] = -1.0
    folder = save_policy(m, tmp_path / "v3", {"name": "v3"}).parent
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["interval"]["features"] == "interval-v3"
    assert manifest["interval"]["state_shape"] == [1, len(V3_NAMES)]
    assert manifest["architecture"]["searched_features"] == ["idle_1s", "c_trough_1s"]
    w = load_file(str(folder / "weights.safetensors"))["l0.weight"][:, 0]
    assert np.flatnonzero(w).tolist() == [V3_NAMES.index("idle_1s"), V3_NAMES.index("c_trough_1s")]
    recs = _records(1)  # half busy, so 50 % idle over the last second: log2(1 + 50)
    recs["cls"]["sojourn_mean_ns"][0, layout.CLASS_C] = 15_000_000  # trough = target: 1
    fn, _ = feature_fn("interval-v3")
    h = IntervalHistory(window=1)
    h.update(recs)
    x = fn(recs, np.zeros(1, layout.INTERVAL_DTYPE), h.slow(np.array([0])))
    with torch.no_grad():
        want = float(m(torch.from_numpy(x.astype(np.float64))))
    assert want == pytest.approx(-1.0 + 0.25 * np.log2(51.0) - 0.5, rel=1e-6)
    got = _residuals(folder, recs)["res_log2_target"].tolist()
    assert got == [round(want * Q8)]
    assert parse_spec(f"model:{folder}").name == "v3"  # the daemon's loader takes it
    for schema, names, why in (
        ("interval-v9", None, "interval-v2, interval-v3, interval-v4"),
        ("interval-v3", ["idle_2s"], "no interval-v3 feature 'idle_2s'"),
        (None, ["idle_1s"], "no interval-v2 feature 'idle_1s'"),
    ):
        with pytest.raises(ValueError, match=why):
            linear_space(schema, names)
