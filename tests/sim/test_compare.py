"""`aqmllm compare`: dominance, "beats" as the issue defines it, best static DualPI2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aqmllm.sim.compare_cli import best_static, compare, main


def _run(c99: float, l99: float | None, util: float) -> dict:
    m = {"C": {"delay_p99_ms": c99}, "utilisation": util, "L": {}}
    if l99 is not None:
        m["L"]["delay_p99_ms"] = l99
    return m


def _report(**scenarios: dict[str, tuple]) -> dict:
    return {
        "scenarios": {s: {lab: [_run(*p)] for lab, p in by.items()} for s, by in scenarios.items()}
    }


REPORT = _report(
    # beats: lower C p99 at util within 0.005 below, L p99 under the 1 ms floor
    a={"student": (10, 0.9, 0.975), "dualpi2": (20, 0.5, 0.979), "dualpi2@5ms": (8, 0.5, 0.99)},
    # lower C p99 but 0.6 points less utilisation: not a win
    b={"student": (10, 0.5, 0.970), "dualpi2": (20, 0.5, 0.976), "dualpi2@5ms": (9, 0.5, 0.9)},
    # lower C p99, but L p99 above both 1 ms and the reference's
    c={"student": (10, 1.2, 0.99), "dualpi2": (20, 1.1, 0.99), "dualpi2@5ms": (30, 1.3, 0.99)},
    # no L traffic: judged on C and utilisation; dominated by nothing
    d={"student": (5, None, 0.99), "dualpi2": (6, None, 0.99), "dualpi2@5ms": (4, None, 0.95)},
    e={"dualpi2": (6, None, 0.99)},  # the student failed here
)


def test_beats_and_dominance_follow_the_definitions() -> None:
    res = compare(REPORT, "student", "dualpi2")
    rows = {r["scenario"]: r for r in res["rows"]}
    assert [rows[s]["beats"] for s in "abcd"] == [True, False, False, True]
    assert rows["a"]["dominated_by"] == ["dualpi2@5ms"]  # 8 ms at 0.99 with 0.5 ms L
    assert rows["b"]["dominated_by"] == [] and rows["d"]["dominated_by"] == []
    assert rows["c"]["worst"].startswith("L p99 +9%")
    assert rows["b"]["worst"].startswith("util -0.6 pts")
    assert rows["e"]["missing"] == "student"
    assert (res["compared"], res["beats"], res["dominated"]) == (4, 2, 1)
    assert res["win_rate"] == 0.5


def test_only_classic_aqms_and_their_settings_dominate() -> None:
    # another learned policy (per-packet or interval model) better on every axis does not
    # count; a constant residual is a classic with other parameters and does
    rep = _report(
        a={
            "interval:model:m1": (20, 0.9, 0.98),
            "interval:model:m2": (5, 0.5, 0.99),
            "interval:behaviour:perturbed,seed=1": (5, 0.5, 0.99),
            "student": (5, 0.5, 0.99),
            "interval:constant:target=-1": (6, 0.5, 0.99),
            "dualpi2": (20, 0.9, 0.98),
        }
    )
    rows = compare(rep, "interval:model:m1", "dualpi2")["rows"]
    assert rows[0]["dominated_by"] == ["interval:constant:target=-1"]


def test_best_static_is_the_setting_the_model_beats_least() -> None:
    ref, table = best_static(REPORT, "student")
    # student beats dualpi2 on a and d, dualpi2@5ms only on c
    assert ref == "dualpi2@5ms"
    assert {lab: n for lab, n, _ in table} == {"dualpi2": 2, "dualpi2@5ms": 1}


def test_cli_prints_a_table_and_ends_with_name_value_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    p = tmp_path / "report.json"
    p.write_text(json.dumps(REPORT))
    assert main([str(tmp_path), "--model", "student", "--ref", "best-static"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[-1] == "win_rate: 0.250" and out[-4] == "compared: 4"
    assert any(line.startswith("| a | 10 | 8 |") for line in out)
    assert main([str(p), "--model", "teacher"]) == 2
    assert "--model teacher: not in the report" in capsys.readouterr().err
    assert main([str(tmp_path / "none.json"), "--model", "student"]) == 2
    assert "no such report" in capsys.readouterr().err


def _seeded(seed: int, c99: float, util: float) -> dict:
    return {"seed": seed, **_run(c99, None, util)}


def test_null_judges_each_aqm_against_itself_on_seed_halves(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from aqmllm.sim.judge_noise import self_null

    report = {
        "scenarios": {
            # identical halves: no win either way, no bound broken
            "same": {"dualpi2": [_seeded(s, 20, 0.99) for s in (1, 2, 3, 4)]},
            # seeds 3-4 have lower C p99 at 3 points less utilisation: a bound broken,
            # and no win either way (one is lower in delay, the other in utilisation)
            "chaos": {
                "dualpi2": [
                    _seeded(*r)
                    for r in ((1, 30, 0.99), (2, 30, 0.99), (3, 20, 0.96), (4, 20, 0.96))
                ],
            },
            # seed order, not run order, makes the halves (seeds 3-4 win); a lone run
            # is not judged
            "order": {
                "dualpi2": [
                    _seeded(*r)
                    for r in ((4, 10, 0.99), (1, 20, 0.99), (3, 10, 0.99), (2, 20, 0.99))
                ],
                "codel": [_seeded(1, 5, 0.9)],
            },
        }
    }
    (row,) = self_null(report)
    assert row["aqm"] == "dualpi2" and row["scenarios"] == 3
    assert (row["beats"], row["reverse_beats"], row["bounds"]) == (1, 0, 1)
    path = tmp_path / "report.json"
    path.write_text(json.dumps(report))
    assert main([str(path), "--null"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-2:] == ["null_beats_max: 1", "null_bounds_max: 1"]
    assert "| dualpi2 | 3 | 1 | 0 | 1 |" in "\n".join(out)
    lone = {"scenarios": {"x": {"dualpi2": [_seeded(1, 5, 0.9)]}}}
    path.write_text(json.dumps(lone))
    assert main([str(path), "--null"]) == 2
    assert "no AQM has two runs" in capsys.readouterr().err
    assert main([str(path)]) == 2
    assert "--model LABEL is needed" in capsys.readouterr().err
