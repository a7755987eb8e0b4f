"""The judge's rule, on the means over seeds of C p99, L p99 and utilisation
(issue 13/16): what `aqmllm compare` and its noise floor (sim/judge_noise.py)
both apply.  A dimension either side lacks is left out."""

from __future__ import annotations

import math
from typing import Any

from aqmllm.goal import L_FLOOR_MS, UTIL_SLACK

FIGS = {"C p99": ("C", "delay_p99_ms"), "L p99": ("L", "delay_p99_ms"), "util": ("utilisation",)}


def _mean(runs: list[dict], path: tuple[str, ...]) -> float:
    vals = []
    for r in runs:
        v: Any = r
        for k in path:
            v = v.get(k) if isinstance(v, dict) else None
        if isinstance(v, (int, float)) and math.isfinite(v):
            vals.append(float(v))
    return sum(vals) / len(vals) if vals else float("nan")


def point(runs: list[dict]) -> dict[str, float]:
    return {name: _mean(runs, path) for name, path in FIGS.items()}


def known(*vals: float) -> bool:
    return all(not math.isnan(v) for v in vals)


def dominates(y: dict[str, float], x: dict[str, float]) -> bool:
    """y at least as good as x on every figure both have, better on one."""
    better = False
    for name in FIGS:
        a, b = y[name], x[name]
        if not known(a, b):
            continue
        if name == "util":
            a, b = -a, -b
        if a > b:
            return False
        better |= a < b
    return better


def beats(x: dict[str, float], ref: dict[str, float]) -> bool:
    if not known(x["C p99"], ref["C p99"], x["util"], ref["util"]):
        return False
    if not (x["C p99"] < ref["C p99"] and x["util"] >= ref["util"] - UTIL_SLACK):
        return False
    if known(x["L p99"], ref["L p99"]):
        return x["L p99"] <= max(L_FLOOR_MS, ref["L p99"])
    return True


def worst_regression(x: dict[str, float], ref: dict[str, float]) -> str:
    worst, text = 0.0, "none"
    for name in ("C p99", "L p99"):
        a, b = x[name], ref[name]
        if known(a, b) and b > 0 and a > b and (a - b) / b > worst:
            worst, text = (a - b) / b, f"{name} +{(a - b) / b:.0%} ({a:.3g} vs {b:.3g} ms)"
    a, b = x["util"], ref["util"]
    if known(a, b) and b > 0 and a < b and (b - a) / b > worst:
        text = f"util -{(b - a) * 100:.1f} pts ({a:.3f} vs {b:.3f})"
    return text
