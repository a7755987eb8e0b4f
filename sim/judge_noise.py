"""The judge's noise floor: every AQM of a report against itself on other seeds.

`aqmllm compare REPORT --null` splits each AQM's runs of a scenario into two
disjoint halves of its seeds (in seed order; an odd run out is left out)
and judges the second half against the first with compare's own rule.  Nothing
differs but the seeds, so every "beats" and every broken bound is chance:
what a candidate's counts must clear before they mean anything
(docs/evaluation/noise-floor.md).  Scenarios with fewer than 2 runs of an AQM
are skipped.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from aqmllm.sim.judge_rule import beats, point

from aqmllm.goal import REGRESSION_C, REGRESSION_UTIL


def broken_bound(x: dict[str, float], ref: dict[str, float]) -> bool:
    """x is worse than ref beyond the goal's hard bounds (issue 16: utilisation 2 points
    below, C p99 20 % above), the same bounds the episode score calls a regression."""
    if x["util"] < ref["util"] - REGRESSION_UTIL:
        return True
    c, rc = x["C p99"], ref["C p99"]
    return not math.isnan(c) and not math.isnan(rc) and c > REGRESSION_C * rc


def self_null(report: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per AQM label: scenarios judged, second half's wins over the first and the
    reverse, bounds broken, and the spread of the utilisation difference (points)."""
    labels = sorted({k for by in report["scenarios"].values() for k in by})
    rows = []
    for label in labels:
        judged = wins = reverse = bounds = 0
        du: list[float] = []
        for by in report["scenarios"].values():
            runs = sorted(by.get(label, []), key=lambda r: r.get("seed", 0))
            half = len(runs) // 2
            if half < 1:
                continue
            first, second = point(runs[:half]), point(runs[half : 2 * half])
            judged += 1
            wins += beats(second, first)
            reverse += beats(first, second)
            bounds += broken_bound(second, first)
            if not (math.isnan(first["util"]) or math.isnan(second["util"])):
                du.append(100.0 * (second["util"] - first["util"]))
        if judged:
            rows.append(
                {
                    "aqm": label,
                    "scenarios": judged,
                    "beats": wins,
                    "reverse_beats": reverse,
                    "bounds": bounds,
                    "util_sd_pts": float(np.std(du)) if du else float("nan"),
                }
            )
    return rows


def render_null(rows: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| AQM against itself (seed halves) | scenarios | beats | reverse beats"
        " | beyond bounds | sd of utilisation difference (pt) |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['aqm']} | {r['scenarios']} | {r['beats']} | {r['reverse_beats']}"
            f" | {r['bounds']} | {r['util_sd_pts']:.2f} |"
        )
    if rows:
        lines += [
            "",
            f"null_beats_max: {max(max(r['beats'], r['reverse_beats']) for r in rows)}",
            f"null_bounds_max: {max(r['bounds'] for r in rows)}",
        ]
    return lines
