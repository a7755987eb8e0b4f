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
