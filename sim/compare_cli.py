"""`aqmllm compare REPORT --model X --ref dualpi2`: does X beat the reference?

Per scenario, on the means over seeds of C p99, L p99 and utilisation:

* dominated: some non-model AQM or swept setting in the report is at least
  as good as X on all three (lower or equal delays, higher or equal
  utilisation) and better on one;
* beats: X's C p99 is lower than the reference's, at utilisation no less
  than the reference's minus 0.005 (half a percentage point), with L p99 no
  more than max(1 ms, the reference's L p99);
* worst regression: the figure on which X is relatively furthest behind
  the reference.

A dimension either side lacks (no L traffic in the scenario) is left out.
The table ends with `name: value` lines, the last the win rate (scenarios
X beats over scenarios compared).  Exit status 0 whatever the outcome.

`--null`: the judge's noise floor instead -- every AQM in the report against
itself on two halves of its seeds (sim/judge_noise.py).

`--ref best-static`: the single DualPI2 target (every `dualpi2` and
`dualpi2@T` setting in the report) chosen in hindsight as the hardest for X
over the whole report: the one X beats on the fewest scenarios, ties broken
by the lowest geometric mean of its C p99 over the scenarios.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

from aqmllm.sim.judge_rule import beats, dominates, known, point, worst_regression

from aqmllm.console import add_version


class CompareError(ValueError):
    pass


def dualpi2_settings(report: dict) -> list[str]:
    labels = []
    for by in report["scenarios"].values():
        labels += [
            k for k in by if (k == "dualpi2" or k.startswith("dualpi2@")) and k not in labels
        ]
    return labels


def compare(report: dict, model: str, ref: str) -> dict[str, Any]:
    from aqmllm.sim.report import is_learned

    rows = []
    for scen, by in report["scenarios"].items():
        if model not in by or ref not in by:
            rows.append({"scenario": scen, "missing": model if model not in by else ref})
            continue
        x, r = point(by[model]), point(by[ref])
        dominators = [
            lab
            for lab, runs in by.items()
            if lab != model and not is_learned(lab) and dominates(point(runs), x)
        ]
        rows.append(
            {
                "scenario": scen,
                "x": x,
                "ref": r,
                "dominated_by": dominators,
                "beats": beats(x, r),
                "worst": worst_regression(x, r),
            }
        )
    done = [r for r in rows if "missing" not in r]
    wins = sum(r["beats"] for r in done)
    return {
        "rows": rows,
        "compared": len(done),
        "beats": wins,
        "dominated": sum(bool(r["dominated_by"]) for r in done),
        "win_rate": wins / len(done) if done else float("nan"),
    }


def best_static(report: dict, model: str) -> tuple[str, list[tuple[str, int, float]]]:
    """The DualPI2 setting X beats least often (ties: lowest geometric-mean C p99)."""
    table = []
    for lab in dualpi2_settings(report):
        res = compare(report, model, lab)
        c99 = [r["ref"]["C p99"] for r in res["rows"] if "missing" not in r]
        c99 = [v for v in c99 if known(v) and v > 0]
        gmean = math.exp(sum(map(math.log, c99)) / len(c99)) if c99 else float("inf")
        table.append((lab, res["beats"], gmean))
    if not table:
        raise CompareError("the report has no DualPI2 run to choose a best static setting from")
    table.sort(key=lambda t: (t[1], t[2]))
    return table[0][0], table


def _f(v: float, fmt: str = ".3g") -> str:
    return "-" if math.isnan(v) else format(v, fmt)


def render(res: dict[str, Any], model: str, ref: str) -> list[str]:
    head = (
        f"| scenario | {model} C p99 | {ref} C p99 | {model} L p99 | {ref} L p99 |"
        f" {model} util | {ref} util | dominated by | beats {ref} | worst regression |"
    )
    lines = [head, "|" + "---|" * 10]
    for r in res["rows"]:
        if "missing" in r:
            lines.append(f"| {r['scenario']} | no runs of {r['missing']} |" + " |" * 8)
            continue
        x, f = r["x"], r["ref"]
        dom = ", ".join(r["dominated_by"][:3]) + (" …" if len(r["dominated_by"]) > 3 else "")
        lines.append(
            f"| {r['scenario']} | {_f(x['C p99'])} | {_f(f['C p99'])} | {_f(x['L p99'])} |"
            f" {_f(f['L p99'])} | {_f(x['util'], '.4f')} | {_f(f['util'], '.4f')} |"
            f" {dom or 'no'} | {'yes' if r['beats'] else 'no'} | {r['worst']} |"
        )
    return lines


def _print_null(report: dict) -> int:
    from aqmllm.sim.judge_noise import render_null, self_null

    rows = self_null(report)
    if not rows:
        raise CompareError("--null: no AQM has two runs of a scenario to split (use --seeds)")
    print("\n".join(render_null(rows)))
    return 0


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="aqmllm compare", description=__doc__.splitlines()[0])
    ap.add_argument("report", help="report.json of `aqmllm evaluate`, or its folder")
    ap.add_argument("--model", help="the candidate's AQM label, e.g. student")
    ap.add_argument(
        "--null",
        action="store_true",
        help="instead: every AQM against itself on two halves of its seeds (the noise floor)",
    )
    ap.add_argument("--ref", default="dualpi2", help="reference label, or best-static")
    ap.add_argument("--json", help="also write the comparison to this file")
    add_version(ap)
    args = ap.parse_args(argv)
    path = Path(args.report)
    if path.is_dir():
        path = path / "report.json"
    try:
        try:
            report = json.loads(path.read_text())
        except FileNotFoundError:
            raise CompareError(f"{path}: no such report") from None
        except json.JSONDecodeError as exc:
            raise CompareError(f"{path}: not a JSON report: {exc}") from None
        if not isinstance(report, dict) or "scenarios" not in report:
            raise CompareError(f"{path}: not a report of `aqmllm evaluate`")
        if args.null:
            return _print_null(report)
        if not args.model:
            raise CompareError("--model LABEL is needed (or --null for the noise floor)")
        labels = {k for by in report["scenarios"].values() for k in by}
        if args.model not in labels:
            raise CompareError(
                f"--model {args.model}: not in the report (it has {', '.join(sorted(labels))})"
            )
        ref = args.ref
        choice: list[tuple[str, int, float]] = []
        if ref == "best-static":
            ref, choice = best_static(report, args.model)
        elif ref not in labels:
            raise CompareError(f"--ref {ref}: not in the report (or use best-static)")
    except CompareError as exc:
        print(f"aqmllm compare: {exc}", file=sys.stderr)
        return 2
    res = compare(report, args.model, ref)
    lines = []
    if choice:
        lines.append(
            "best static DualPI2 in hindsight (scenarios the candidate beats, geometric-mean C"
            " p99): " + ", ".join(f"{lab} {n} / {g:.3g} ms" for lab, n, g in choice)
        )
        lines.append(f"reference: {ref}")
        lines.append("")
    lines += render(res, args.model, ref)
    lines += [
        "",
        f"compared: {res['compared']}",
        f"dominated: {res['dominated']}",
        f"beats: {res['beats']}",
        f"win_rate: {_f(res['win_rate'], '.3f')}",
    ]
    print("\n".join(lines))
    if args.json:
        Path(args.json).write_text(json.dumps({"model": args.model, "ref": ref, **res}, indent=1))
    return 0
