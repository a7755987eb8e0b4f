"""Score interval policies on generated validation pairs, against DualPI2 and static targets.

    python -m aqmllm.sim.interval_validate --valid DIR... --out OUT --aqm interval:model:PATH ...

What selects among the candidates of a closed-loop iteration (issue 16):
each candidate runs on every (scenario, seed) pair of the validation
folders -- generated only; a held-out file is refused -- beside DualPI2 and
DualPI2 at static targets (the frontier the judge holds it to).  Per
candidate it prints the mean clipped episode score against DualPI2
(sim/cma_interval.run_score: the CMA objective), how often it beats DualPI2
by the judge's rule, how often it beats the best static target (chosen on
these pairs in hindsight, by the same rule), and regressions; then the bound
on adapting by telling scenarios apart: one of the settings run (DualPI2, the
statics, the candidates) chosen per scenario in hindsight, judged on the same
runs and, without the selection bias, on the scenario's other seeds.  A JSON
copy goes to OUT/validation.json.  Runs are cached in OUT/runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

STATICS = ("dualpi2@5ms", "dualpi2@10ms", "dualpi2@20ms")


def judge(run: dict | None, ref: dict | None) -> tuple[bool, bool]:
    """(beats, regression) by the judge's rule; a failed run neither beats nor is spared."""
    from aqmllm.models.rl.reward import episode_score

    if not run or run.get("status") != "ok" or not ref or ref.get("status") != "ok":
        return False, True
    es = episode_score(run, ref)
    return bool(es.beats), bool(es.regression)


def summarise(
    candidates: list[str], pairs: list[Any], got: dict[tuple[str, Any], dict], statics: list[str]
) -> dict[str, dict[str, Any]]:
    from aqmllm.sim.cma_interval import REF_AQM, run_score

    def family(p: Any) -> str:  # generated names: gen-FAMILY-SEED-INDEX
        parts = p.scenario.split("-")
        return "-".join(parts[1:-2]) if parts[0] == "gen" and len(parts) > 3 else "other"

    # the best static target over these pairs in hindsight: most wins against DualPI2
    static_wins = {
        s: sum(judge(got.get((s, p)), got.get((REF_AQM, p)))[0] for p in pairs) for s in statics
    }
    best_static = max(statics, key=lambda s: static_wins[s]) if statics else None
    out: dict[str, dict[str, Any]] = {}
    for aqm in [*candidates, *statics]:
        scores = [run_score(got.get((aqm, p)), got.get((REF_AQM, p))) for p in pairs]
        verdicts = [judge(got.get((aqm, p)), got.get((REF_AQM, p))) for p in pairs]
        row: dict[str, Any] = {
            "score": float(np.mean(scores)),
            "beats_dualpi2": sum(b for b, _ in verdicts) / len(pairs),
            "regressions": sum(r for _, r in verdicts),
            "by_family": {
                f: float(np.mean([s for s, p in zip(scores, pairs, strict=True) if family(p) == f]))
                for f in sorted({family(p) for p in pairs})
            },
        }
        if best_static is not None and aqm != best_static:
            row["beats_best_static"] = sum(
                judge(got.get((aqm, p)), got.get((best_static, p)))[0] for p in pairs
            ) / len(pairs)
        out[aqm] = row
    out["_meta"] = {"pairs": len(pairs), "best_static": best_static, "static_wins": static_wins}
    out["_hindsight"] = hindsight([REF_AQM, *statics, *candidates], pairs, got)
    return out


def hindsight(
    settings: list[str], pairs: list[Any], got: dict[tuple[str, Any], dict]
) -> dict[str, dict[str, Any]]:
    """What choosing one of these settings per scenario could earn: the bound on any
    policy that adapts by telling scenarios apart (and does no better inside one).

    "in-sample" picks, per scenario, the setting with the best mean score over its
    seeds and is judged on those same runs, so seed noise flatters it; "other seeds"
    picks on the scenario's other seeds and is judged on the one left out (a pair
    with no other seed keeps DualPI2), which removes that selection bias."""
    from aqmllm.sim.cma_interval import REF_AQM, run_score

    score = {
        (s, p): run_score(got.get((s, p)), got.get((REF_AQM, p))) for s in settings for p in pairs
    }
    by_scenario: dict[str, list[Any]] = {}
    for p in pairs:
        by_scenario.setdefault(p.scenario, []).append(p)

    def best(among: list[Any]) -> str:  # ties: the earlier setting, DualPI2 first
        if not among:
            return REF_AQM
        return max(
            settings, key=lambda s: (np.mean([score[(s, q)] for q in among]), -settings.index(s))
        )

    rows: dict[str, dict[str, Any]] = {}
    for name, others in (("in-sample", False), ("other seeds", True)):
        chosen = {
            p: best(
                [q for q in by_scenario[p.scenario] if q != p]
                if others
                else by_scenario[p.scenario]
            )
            for p in pairs
        }
        verdicts = [judge(got.get((chosen[p], p)), got.get((REF_AQM, p))) for p in pairs]
        rows[name] = {
            "score": float(np.mean([score[(chosen[p], p)] for p in pairs])),
            "beats_dualpi2": sum(b for b, _ in verdicts) / len(pairs),
            "regressions": sum(r for _, r in verdicts),
            "picks": dict(Counter(chosen.values())),
        }
    return rows


def parse_args(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="interval_validate", description=__doc__.splitlines()[0])
    ap.add_argument("--valid", nargs="+", required=True, help="generated scenario folders")
    ap.add_argument("--aqm", action="append", required=True, help="a candidate (repeatable)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--seeds-per-scenario", type=int, default=2)
    ap.add_argument("--statics", nargs="*", default=list(STATICS))
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--run-timeout", type=float, default=600.0)
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    from aqmllm.sim.cma_interval import REF_AQM, NS3Runner, pairs_of
    from aqmllm.sim.ns3.run import split_aqm

    a = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        pairs = pairs_of(a.valid, a.seeds_per_scenario)
        for aqm in [*a.aqm, *a.statics]:
            split_aqm(aqm)
    except (ValueError, OSError) as exc:
        print(f"interval_validate: {exc}", file=sys.stderr)
        return 2
    out = Path(a.out)
    runner = NS3Runner(out, a.workers, a.run_timeout)
    wanted = [(aqm, p) for aqm in [REF_AQM, *a.statics, *a.aqm] for p in pairs]
    try:
        got = runner(wanted)
    finally:
        runner.executor.close()
    table = summarise(a.aqm, pairs, got, a.statics)
    out.mkdir(parents=True, exist_ok=True)
    (out / "validation.json").write_text(json.dumps(table, indent=1))
    meta = table.pop("_meta")
    bound = table.pop("_hindsight")
    print(
        f"{meta['pairs']} pairs; best static on them: {meta['best_static']} {meta['static_wins']}"
    )
    print("| policy | score | beats dualpi2 | beats best static | regressions | by family |")
    print("|---|---|---|---|---|---|")
    for aqm, r in table.items():
        fam = ", ".join(f"{f} {v:+.2f}" for f, v in r["by_family"].items())
        bs = r.get("beats_best_static")
        print(
            f"| {aqm} | {r['score']:+.3f} | {r['beats_dualpi2']:.2f} |"
            f" {'-' if bs is None else f'{bs:.2f}'} | {r['regressions']} | {fam} |"
        )
    print("one setting per scenario, chosen in hindsight (a bound on telling scenarios apart):")
    for name, r in bound.items():
        picks = ", ".join(f"{k} {v}" for k, v in sorted(r["picks"].items()))
        print(
            f"  {name}: score {r['score']:+.3f}, beats dualpi2 {r['beats_dualpi2']:.2f},"
            f" regressions {r['regressions']}; pairs per setting: {picks}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
