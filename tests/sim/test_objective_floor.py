"""The objective-floor tool (sim/objective_floor.py) on hand-made runs: no ns-3."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from aqmllm.sim import cma_interval, objective_floor
from aqmllm.sim.cma_interval import Pair


def _run(u: float, c: float) -> dict:
    return {"status": "ok", "utilisation": u, "C": {"delay_p99_ms": c}, "L": {}}


def test_a_swing_between_seeds_costs_run_by_run_and_not_on_seed_means() -> None:
    g = tuple(Pair("a", "a.toml", s) for s in (1, 2, 3, 4))
    got = {("dualpi2", p): _run(0.99, 20.0) for p in g}
    # the same C p99; utilisation 3 points down on seed 1 and up on seed 2
    for p, u in zip(g, (0.96, 1.02, 0.99, 0.99), strict=True):
        got[("near", p)] = _run(u, 20.0)
    table = objective_floor.floor_table(["near"], [g], got)
    assert list(table) == [
        "run by run, 1 seed",
        "run by run, 2 seeds",
        "seed means, 2 seeds",
        "run by run, 4 seeds",
        "seed means, 4 seeds",
    ]
    assert table["run by run, 1 seed"]["near"] == cma_interval.SCORE_MIN
    assert table["run by run, 4 seeds"]["near"] == pytest.approx(cma_interval.SCORE_MIN / 4)
    assert table["seed means, 2 seeds"]["near"] == 0.0
    assert table["seed means, 4 seeds"]["near"] == 0.0
    assert objective_floor.spread("near", [g], got) == {
        "util_diff_sd_pts": pytest.approx(np.sqrt(18 / 4)),
        "util_diff_worst_pts": pytest.approx(-3.0),
        "share_below_minus_1": 0.0,
    }
    lines = objective_floor.explain("near", [g], got)
    assert lines[0].startswith("a: util -3.0 +3.0 +0.0 +0.0 pts per seed")


def test_explain_must_name_a_scored_setting(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    argv = ["--valid", str(tmp_path), "--out", str(tmp_path / "o"), "--aqm", "dualpi2@14ms"]
    assert objective_floor.main([*argv, "--explain", "dualpi2@16ms"]) == 2
    err = capsys.readouterr().err
    assert "not one of the --aqm settings" in err and "Traceback" not in err
    assert objective_floor.main([*argv[:-1], "nosuch"]) == 2
    assert "unknown AQM 'nosuch'" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
