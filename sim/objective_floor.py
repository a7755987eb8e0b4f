"""The CMA objective's own floor: fixed settings next to DualPI2, scored as a search would.

    python -m aqmllm.sim.objective_floor --valid DIR... --out OUT --seeds 4 \
        --aqm dualpi2@14ms --aqm dualpi2@16ms [--explain dualpi2@16ms]

A setting a millimetre from DualPI2 gains or loses nothing real, so its score
is what chaos alone costs a candidate: the bar a search's progress must clear
(docs/evaluation/noise-floor.md).  Each AQM is scored on generated scenarios
(a held-out file is refused) run by run over 1, 2 ... K seeds and on the
scenario's seed means (--average-seeds), all from one set of runs cached in
OUT/runs.  ``--explain AQM`` prints the episode score's terms per scenario.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

Got = dict[Any, dict[str, Any]]


def _cached(got: Got) -> Any:
    """population_scores' run function over runs already made."""
    return lambda wanted: {w: got[w] for w in wanted if w in got}


def _util_diffs(aqm: str, group: tuple[Any, ...], got: Got) -> list[float]:
    """Per seed: the setting's utilisation minus DualPI2's (points), where both ran."""
    from aqmllm.sim.cma_interval import REF_AQM

    ok = [(got.get((aqm, p)), got.get((REF_AQM, p))) for p in group]
    return [
        100 * (m["utilisation"] - r["utilisation"])
        for m, r in ok
        if m and r and m.get("status") == "ok" and r.get("status") == "ok"
    ]


def floor_table(
    aqms: list[str], groups: list[tuple[Any, ...]], got: Got
) -> dict[str, dict[str, float]]:
    """{objective: {aqm: score}}: run by run and on seed means, over the first k seeds."""
    from aqmllm.sim.cma_interval import population_scores

    run = _cached(got)
    k_max = min(len(g) for g in groups)
    out: dict[str, dict[str, float]] = {}
    for k in sorted({1, 2, k_max} & set(range(1, k_max + 1))):
        sub = [g[:k] for g in groups]
        flat = [p for g in sub for p in g]
        out[f"run by run, {k} seed{'s' * (k > 1)}"] = dict(
            zip(aqms, population_scores(list(aqms), flat, run), strict=True)
        )
        if k > 1:
            out[f"seed means, {k} seeds"] = dict(
                zip(aqms, population_scores(list(aqms), sub, run), strict=True)
            )
    return out


def spread(aqm: str, groups: list[tuple[Any, ...]], got: Got) -> dict[str, float]:
    """How far one setting's runs stray from DualPI2's on the same seeds: the standard
    deviation and the worst of the per-seed utilisation difference (points), and the
    share of scenarios whose seed-mean score is below -1 (one regression's worth)."""
    from aqmllm.sim.cma_interval import population_scores

    du = [d for g in groups for d in _util_diffs(aqm, g, got)]
    per_group = [population_scores([aqm], [g], _cached(got))[0] for g in groups]
    return {
        "util_diff_sd_pts": float(np.std(du)) if du else float("nan"),
        "util_diff_worst_pts": float(min(du)) if du else float("nan"),
        "share_below_minus_1": float(np.mean([s < -1 for s in per_group])),
    }


def explain(aqm: str, groups: list[tuple[Any, ...]], got: Got) -> list[str]:
    """One line per scenario: utilisation per seed and the seed means' score terms."""
    from aqmllm.models.rl.reward import episode_score
    from aqmllm.sim.cma_interval import REF_AQM, seed_mean

    lines = []
    for g in groups:
        mine, ref = (
            seed_mean([got.get((aqm, p)) for p in g]),
            seed_mean([got.get((REF_AQM, p)) for p in g]),
        )
        if mine is None or ref is None:
            lines.append(f"{g[0].scenario}: a run failed")
            continue
        du = _util_diffs(aqm, g, got)
        e = episode_score(mine, ref)
        c, rc = mine["C"].get("delay_p99_ms"), ref["C"].get("delay_p99_ms")
        lines.append(
            f"{g[0].scenario}: util {' '.join(f'{d:+.1f}' for d in du)} pts per seed;"
            f" C p99 {c:.1f} vs {rc:.1f} ms; score {e.score:+.2f} (delay {e.delay_term:+.2f},"
            f" util {e.util_term:+.2f}, L {e.l_term:+.2f}, regression {e.regression})"
            if c is not None and rc is not None
            else f"{g[0].scenario}: score {e.score:+.2f}"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    from aqmllm.sim.cma_interval import REF_AQM, NS3Runner, groups_of
    from aqmllm.sim.ns3.run import split_aqm

    ap = argparse.ArgumentParser(prog="objective_floor", description=__doc__.splitlines()[0])
    ap.add_argument("--valid", nargs="+", required=True, help="generated scenario folders")
    ap.add_argument("--aqm", action="append", required=True, help="a fixed setting (repeatable)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--seeds", type=int, default=4, help="seeds per scenario (own, then derived)")
    ap.add_argument("--explain", help="print the score's terms per scenario for this AQM")
    ap.add_argument("--workers", type=int, default=2)
    a = ap.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        for aqm in a.aqm:
            split_aqm(aqm)
        if a.explain and a.explain not in a.aqm:
            raise ValueError(f"--explain {a.explain}: not one of the --aqm settings")
        groups = groups_of(a.valid, a.seeds)
    except (ValueError, OSError) as exc:
        print(f"objective_floor: {exc}", file=sys.stderr)
        return 2
    out = Path(a.out)
    runner = NS3Runner(out, a.workers, 600.0)
    try:
        got = runner([(aqm, p) for aqm in [REF_AQM, *a.aqm] for g in groups for p in g])
    finally:
        runner.executor.close()
    table = floor_table(a.aqm, groups, got)
    for name, row in table.items():
        print(f"{name}: " + "  ".join(f"{aqm} {s:+.3f}" for aqm, s in row.items()))
    for aqm in a.aqm:
        for name, v in spread(aqm, groups, got).items():
            print(f"{aqm} {name}: {v:.3f}")
    if a.explain:
        print("\n".join(explain(a.explain, groups, got)))
    (out / "floor.json").write_text(json.dumps(table, indent=1) + "\n")
    print(f"new runs: {runner.runs}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
