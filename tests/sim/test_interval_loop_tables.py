"""The closed loop's bookkeeping: the validation verdicts (judge's rule, best static in
hindsight) and the focus files drawn from a student's gaps."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from aqmllm.sim.cma_interval import REF_AQM, Pair
from aqmllm.sim.interval_iterate import focus_files, table
from aqmllm.sim.interval_validate import summarise


def _run(c99: float, util: float, l99: float = 0.9) -> dict:
    return {"status": "ok", "utilisation": util, "C": {"delay_p99_ms": c99},
            "L": {"delay_p99_ms": l99}}  # fmt: skip


def test_validation_counts_wins_by_the_judges_rule_and_picks_the_best_static() -> None:
    pairs = [Pair(f"gen-steady-1-{i}", f"/g/{i}.toml", 1) for i in range(4)]
    got = {}
    for p in pairs:
        got[(REF_AQM, p)] = _run(20, 0.99)
        got[("dualpi2@5ms", p)] = _run(10, 0.96)  # lower delay, but 3 % utilisation lost
        got[("dualpi2@10ms", p)] = _run(15, 0.988)  # wins: within 0.5 %
    # the candidate: beats DualPI2 on three pairs, and @10ms on two of them
    for i, p in enumerate(pairs):
        got[("cand", p)] = _run([12, 14, 16, 25][i], 0.99)
    t = summarise(["cand"], pairs, got, ["dualpi2@5ms", "dualpi2@10ms"])
    assert t["_meta"]["best_static"] == "dualpi2@10ms"
    assert t["_meta"]["static_wins"] == {"dualpi2@5ms": 0, "dualpi2@10ms": 4}
    assert t["cand"]["beats_dualpi2"] == 0.75
    assert t["cand"]["beats_best_static"] == 0.5
    assert t["cand"]["regressions"] == 1  # +25 % C p99
    assert t["dualpi2@5ms"]["regressions"] == 4
    assert set(t["cand"]["by_family"]) == {"steady"}


def test_the_hindsight_bound_picks_per_scenario_and_the_other_seeds_row_is_not_flattered() -> None:
    x = [Pair("gen-steady-1-0", "/g/x.toml", s) for s in (1, 2)]
    y = [Pair("gen-steady-1-1", "/g/y.toml", s) for s in (1, 2)]
    got = {(REF_AQM, p): _run(20, 0.99) for p in x + y}
    for p in x:  # "a" halves C p99 in scenario x on both seeds; "b" does nothing there
        got[("a", p)], got[("b", p)] = _run(10, 0.99), _run(20, 0.99)
    for p in y:  # in scenario y "a" does nothing, "b" wins on one seed and loses on the other
        got[("a", p)] = _run(20, 0.99)
    got[("b", y[0])], got[("b", y[1])] = _run(10, 0.99), _run(22, 0.99)
    h = summarise(["b"], x + y, got, ["a"])["_hindsight"]
    win, loss = math.log(2), math.log(20 / 22)
    # in-sample: "b" in y on its mean over both seeds, judged on the same runs
    assert h["in-sample"]["picks"] == {"a": 2, "b": 2}
    assert h["in-sample"]["score"] == pytest.approx((3 * win + loss) / 4)
    assert h["in-sample"]["beats_dualpi2"] == 0.75
    # other seeds: y's first seed is chosen on the second (nothing beats holding: DualPI2),
    # the second on the first ("b", which then loses)
    assert h["other seeds"]["picks"] == {"a": 2, REF_AQM: 1, "b": 1}
    assert h["other seeds"]["score"] == pytest.approx((2 * win + loss) / 4)
    assert h["other seeds"]["beats_dualpi2"] == 0.5
    assert h["other seeds"]["regressions"] == 0


def test_a_failed_candidate_run_counts_as_a_regression() -> None:
    p = Pair("gen-wide-1-0", "/g/0.toml", 1)
    got = {(REF_AQM, p): _run(20, 0.99), ("cand", p): {"status": "failed"}}
    t = summarise(["cand"], [p], got, [])
    assert t["cand"]["beats_dualpi2"] == 0 and t["cand"]["regressions"] == 1
    assert t["cand"]["score"] == pytest.approx(-4.0)


def test_focus_files_are_per_family(tmp_path: Path) -> None:
    gaps = {"/x/it1/train/steady/a.toml": 0.5, "/x/it1/train/wide/b.toml": -0.2}
    files = focus_files(gaps, tmp_path)
    assert set(files) == {"steady", "wide"}
    entries = json.loads(files["steady"].read_text())["entries"]
    assert entries == [{"file": "/x/it1/train/steady/a.toml", "gap": 0.5}]


def test_the_iteration_table_has_a_row_per_iteration() -> None:
    row = {"iteration": 1, "new_pairs": 4, "wall_s": 120,
           "collected": {"episodes": 40, "steps": 9000, "runs": 32},
           "validation": {"score": -0.1, "beats_dualpi2": 0.4, "beats_best_static": 0.2,
                          "regressions": 3}}  # fmt: skip
    lines = table([row, {**row, "iteration": 2}]).splitlines()
    assert len(lines) == 4 and lines[2].startswith("| 1 | 4 | 40 | 9000 | 32 | -0.100 | 0.40")
