"""The evaluation report: means over seeds in the table, their spread beside it."""

from __future__ import annotations

import csv
from pathlib import Path

from aqmllm.sim.report import write_report


def _run(seed: int, l99: float, c99: float, util: float) -> dict:
    return {
        "seed": seed,
        "utilisation": util,
        "goodput_mbps": 19.0,
        "L": {"delay_p99_ms": l99},
        "C": {"delay_p99_ms": c99},
        "overall": {"delay_p99_ms": max(l99, c99), "loss": 0.0},
    }


def _report(runs_by_aqm: dict[str, list[dict]]) -> dict:
    return {
        "scenarios": {"s": runs_by_aqm},
        "aqms": list(runs_by_aqm),
        "model": None,
        "latency_us": 140.0,
    }


def test_table_holds_the_mean_and_spread_holds_min_max(tmp_path: Path) -> None:
    report = _report(
        {
            "student": [_run(1, 0.5, 10.0, 0.90), _run(2, 1.5, 30.0, 1.00)],
            "dualpi2": [_run(1, 1.0, 20.0, 0.99), _run(2, 1.0, 22.0, 0.98)],
        }
    )
    write_report(report, tmp_path)
    with open(tmp_path / "report.csv") as f:
        rows = {r["aqm"]: r for r in csv.DictReader(f)}
    assert rows["student"]["runs"] == "2"
    assert float(rows["student"]["C p99 ms"]) == 20.0
    assert float(rows["student"]["util"]) == 0.95
    md = (tmp_path / "report.md").read_text()
    assert "## Spread over seeds" in md
    assert "| s | student | 0.5–1.5 | 10–30 | 0.9–1 |" in md
    assert "| s | dualpi2 | 1–1 | 20–22 | 0.98–0.99 |" in md


def test_single_seed_reports_have_no_spread_table(tmp_path: Path) -> None:
    write_report(_report({"dualpi2": [_run(1, 1.0, 20.0, 0.99)]}), tmp_path)
    md = (tmp_path / "report.md").read_text()
    assert "Spread over seeds" not in md
    assert "| s | dualpi2 | 1 |" in md
