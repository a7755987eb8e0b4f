"""Behaviour policies by name (what a closed-loop collection runs) and the trace they leave."""

from __future__ import annotations

import numpy as np
import pytest
from aqmllm.daemon.interval_policies import LevelPolicy, parse_spec
from aqmllm.daemon.policies import PolicyError
from aqmllm.models.rl import levels
from aqmllm.models.rl.behaviour_spec import BEHAVIOURS, make_behaviour
from aqmllm.models.rl.records import FB_CODEL, FB_DUALPI2, empty


def _records(n_queues: int, fb: int = FB_DUALPI2) -> np.ndarray:
    rec = empty(n_queues)
    rec["queue_id"] = np.arange(n_queues)
    rec["fb_id"] = fb
    rec["interval_ns"], rec["target_ns"], rec["rate_kbps"] = 16_000_000, 15_000_000, 10_000
    return rec


def _levels_over(policy, rounds: int, recs: np.ndarray) -> np.ndarray:
    return np.stack([policy.act(recs) for _ in range(rounds)])


@pytest.mark.parametrize("name", [n for n in BEHAVIOURS if n != "model-perturbed"])
def test_each_behaviour_is_deterministic_in_its_seed(name: str) -> None:
    recs = _records(3)
    a = _levels_over(make_behaviour(f"{name},seed=7"), 40, recs)
    b = _levels_over(make_behaviour(f"{name},seed=7"), 40, recs)
    np.testing.assert_array_equal(a, b)
    levels.check_actions(a.reshape(-1, levels.N_KNOBS))
    if name == "fallback":
        assert not a.any()


def test_perturbed_behaviours_move_away_from_the_fallback_and_differ_by_seed() -> None:
    recs = _records(2)
    a = _levels_over(make_behaviour("perturbed,seed=1"), 200, recs)
    b = _levels_over(make_behaviour("perturbed,seed=2"), 200, recs)
    assert a.any() and not np.array_equal(a, b)


def test_a_codel_queue_only_ever_gets_target_levels() -> None:
    recs = _records(2, FB_CODEL)
    a = _levels_over(make_behaviour("perturbed-randomised,seed=3"), 200, recs)
    assert not a[..., [levels.MULT_C, levels.MULT_L, levels.STEP]].any()


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("wobbly,seed=1", "one of fallback"),
        ("perturbed,seed=x", "not an integer"),
        ("perturbed,speed=1", "options are seed"),
        ("model-perturbed,seed=1", "needs model="),
    ],
)
def test_bad_behaviour_names_are_refused_in_one_sentence(spec: str, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        make_behaviour(spec)
    with pytest.raises(PolicyError, match=words):
        parse_spec(f"behaviour:{spec}")


def test_a_missing_model_is_refused_by_name() -> None:
    with pytest.raises(PolicyError, match="/no/such/model"):
        parse_spec("behaviour:model-perturbed,seed=1,model=/no/such/model")


def test_the_level_policy_traces_what_it_saw_and_chose() -> None:
    pol = parse_spec("behaviour:perturbed,seed=5")
    assert isinstance(pol, LevelPolicy)
    recs = _records(2)
    pol.residuals(recs)  # before start_trace: nothing kept
    pol.start_trace()
    outs = []
    for t in range(30):
        recs["seq"] = t + 1
        outs.append(pol.residuals(recs))
    assert pol.trace is not None and len(pol.trace) == 30
    seen, chosen = pol.trace[-1]
    assert seen["seq"].tolist() == [30, 30] and chosen.dtype == np.uint8
    # the trace's levels are the residuals written
    values = np.asarray(levels.KNOBS[levels.TARGET].levels)
    want = np.round(values[chosen[:, levels.TARGET]] * 256)
    np.testing.assert_array_equal(outs[-1]["res_log2_target"], want)


def test_a_static_target_holds_one_other_target_for_the_episode() -> None:
    recs = _records(2)
    a = _levels_over(make_behaviour("static-target,seed=4"), 50, recs)
    assert len(np.unique(a[..., levels.TARGET])) == 1 and a[0, 0, levels.TARGET] != 0
    assert not a[..., [levels.MULT_C, levels.MULT_L, levels.STEP]].any()
    seen = {int(make_behaviour(f"static-target,seed={s}").act(recs)[0, 0]) for s in range(40)}
    assert seen == set(range(1, levels.N_LEVELS[levels.TARGET]))  # the seed spans the sweep


def test_a_continuous_model_behaves_as_its_nearest_levels(tmp_path) -> None:
    import torch
    from aqmllm.models.interval_history import IntervalHistory
    from aqmllm.models.rl.linear_interval import LinearTarget, save_policy

    m = LinearTarget()
    with torch.no_grad():
        m.bias[:] = -0.9  # a target x2^-0.9: the nearest level is -1 (x1/2)
    path = save_policy(m, tmp_path / "lin", {"name": "lin"}).parent
    pol = make_behaviour(f"model-perturbed,seed=3,model={path}")
    inner = pol.inner  # type: ignore[attr-defined]
    recs = _records(2)
    h = IntervalHistory(window=8)
    pol.bind_history(h)  # type: ignore[attr-defined]
    h.update(recs)
    target = np.asarray(levels.KNOBS[levels.TARGET].levels)
    got = inner.act(recs)
    assert target[got[:, levels.TARGET]].tolist() == [-1.0, -1.0]
    assert not got[:, 1:].any()


def test_a_collection_plan_always_runs_the_reference_first() -> None:
    from aqmllm.sim.cma_interval import Pair
    from aqmllm.sim.interval_collect import REF, behaviour_aqms

    p = Pair("gen-steady-1-0", "/x.toml", 5)
    names = behaviour_aqms(p, plan=[("static-target", 2)])
    assert names[0] == REF and len(names) == 3
    assert all(n.startswith("interval:behaviour:static-target,seed=") for n in names[1:])
    with_model = behaviour_aqms(p, plan=[("model-perturbed", 1)], behaviour_model="/m")
    assert with_model[1].endswith(",model=/m")
