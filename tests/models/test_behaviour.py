"""Behaviour policies: the adaptive target moves the right way; random residuals stay bounded."""

from __future__ import annotations

import json

import numpy as np
import pytest
from aqmllm.models.rl import levels
from aqmllm.models.rl.adaptive import AdaptiveTarget, AdaptiveTargetConfig
from aqmllm.models.rl.behaviour import Perturbed, randomised_classic
from aqmllm.models.rl.policy_api import ConstantResidual, Fallback
from aqmllm.models.rl.records import CLASS_C, FB_CODEL, FB_DUALPI2, FB_PIE, empty

MS = 1_000_000
TARGETS = np.asarray(levels.KNOBS[levels.TARGET].levels)


def _records(queues: list[tuple[int, float, float, int]], target_ms: float = 15.0) -> np.ndarray:
    """One interval of several queues: (queue_id, utilisation, C mean sojourn ms, fb_id)."""
    rec = empty(len(queues))
    for i, (q, util, sojourn_ms, fb) in enumerate(queues):
        rec[i]["queue_id"], rec[i]["fb_id"] = q, fb
        rec[i]["interval_ns"], rec[i]["rate_kbps"] = 16 * MS, 10_000
        rec[i]["target_ns"] = int(target_ms * MS)
        c = rec["cls"][i, CLASS_C]
        c["arr_pkts"], c["dep_pkts"] = 14, 13
        c["dep_bytes"] = int(util * 20_000)
        c["sojourn_mean_ns"] = int(sojourn_ms * MS)
    return rec


def _run(policy, queues, n: int) -> list[np.ndarray]:
    return [policy.act(_records(queues)) for _ in range(n)]


def test_adaptive_target_lowers_a_standing_queue_and_raises_a_starved_link() -> None:
    pol = AdaptiveTarget(AdaptiveTargetConfig(window=8, dwell=4))
    # queue 1: busy link, C never below 12 ms of a 15 ms target -> lower
    # queue 2: link at 85 % with demand -> raise
    # queue 3: busy link that drains (2 ms) -> hold
    acts = _run(
        pol, [(1, 1.0, 12.0, FB_DUALPI2), (2, 0.85, 1.0, FB_DUALPI2), (3, 1.0, 2.0, FB_DUALPI2)], 40
    )
    first, last = acts[0], acts[-1]
    assert (first[:, levels.TARGET] == 0).all()  # starts at the fallback's own target
    assert TARGETS[last[0, levels.TARGET]] < 0 and TARGETS[last[1, levels.TARGET]] > 0
    assert last[2, levels.TARGET] == 0
    assert (last[:, 1:] == 0).all()  # the other knobs stay at the fallback
    # one level per dwell: the walk is gradual, and it stops at the table's ends
    steps = [TARGETS[a[0, levels.TARGET]] for a in acts]
    assert all(b <= a for a, b in zip(steps, steps[1:], strict=False))
    assert min(steps) == TARGETS.min()
    assert len(set(steps)) == len(np.unique(TARGETS[TARGETS <= 0]))


def test_adaptive_target_ignores_an_idle_link_without_demand() -> None:
    pol = AdaptiveTarget(AdaptiveTargetConfig(window=4, dwell=2))
    rec = _records([(5, 0.0, 0.0, FB_PIE)])
    rec["cls"][0, CLASS_C]["arr_pkts"] = 0
    rec["cls"][0, CLASS_C]["dep_pkts"] = 0
    for _ in range(20):
        out = pol.act(rec)
    assert (out == 0).all()
    assert json.dumps(pol.describe())


def test_randomised_classics_cover_levels_and_respect_the_fallback() -> None:
    seen = {k: set() for k in range(levels.N_KNOBS)}
    for seed in range(40):
        for fb_name, fb in (("dualpi2", FB_DUALPI2), ("pie", FB_PIE), ("codel", FB_CODEL)):
            pol = randomised_classic(fb_name, seed)
            a = pol.act(_records([(0, 1.0, 5.0, fb)]))[0]
            if fb_name == "pie":
                assert a[levels.STEP] == 0
            if fb_name == "codel":
                assert (a[1:] == 0).all()
            for k in range(levels.N_KNOBS):
                seen[k].add(int(a[k]))
            d = pol.describe()
            assert d["fallback"] == fb_name and d["seed"] == seed and json.dumps(d)
    assert all(len(v) == n for v, n in zip(seen.values(), levels.N_LEVELS, strict=True))
    assert (
        randomised_classic("dualpi2", 1).describe() == randomised_classic("dualpi2", 1).describe()
    )
    with pytest.raises(ValueError, match="not one of"):
        randomised_classic("red", 1)


def test_perturbations_are_bounded_held_and_per_queue() -> None:
    base = ConstantResidual([3, 3, 3, 3])
    pol = Perturbed(base, seed=4, max_shift=1, hold=(3, 6), p_perturb=1.0)
    queues = [(0, 1.0, 5.0, FB_DUALPI2), (1, 1.0, 5.0, FB_DUALPI2), (2, 1.0, 5.0, FB_CODEL)]
    acts = np.stack(_run(pol, queues, 200))  # (T, Q, K)
    for k in range(levels.N_KNOBS):
        pos = np.argsort(levels.sorted_levels(k))
        shift = pos[acts[:, :2, k]] - pos[3]
        assert np.abs(shift).max() <= 1 and len(np.unique(shift)) == 3
    assert (acts[:, 2, 1:] == 0).all()  # CoDel: only the target moves
    # each queue holds a setting for 3..6 intervals before drawing the next
    runs = np.diff(np.nonzero(np.any(np.diff(acts[:, 0], axis=0) != 0, axis=1))[0])
    assert runs.min() >= 1 and runs.max() <= 6
    # a queue's schedule does not depend on the others
    alone = np.stack(_run(Perturbed(base, 4, 1, (3, 6), 1.0), queues[1:2], 200))
    np.testing.assert_array_equal(alone[:, 0], acts[:, 1])
    pol.reset()
    np.testing.assert_array_equal(np.stack(_run(pol, queues, 200)), acts)
    d = pol.describe()
    assert d["inner"]["name"] == "constant" and d["hold"] == [3, 6] and json.dumps(d)
    with pytest.raises(ValueError):
        Perturbed(Fallback(), 1, max_shift=0)


def test_fallback_is_all_zero() -> None:
    assert (Fallback().act(_records([(0, 1.0, 5.0, FB_PIE)] * 3)) == 0).all()
