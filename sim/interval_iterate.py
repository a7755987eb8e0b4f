"""The closed loop of issue 16: collect in ns-3 -> extend the pools -> retrain -> validate, N times.

    python -m aqmllm.sim.interval_iterate --out OUT [--iterations 3] [--workers 2]

Iteration 1 generates training scenarios from every family and collects
with the classic-based behaviours (sim/interval_collect.py).  Iteration k
> 1 first runs the previous student on the previous training pairs: its
gap to DualPI2 there (-episode score) is the focus (Genet) from which new
scenarios are drawn, per family, near the ones where it trails; those are
collected with the behaviours plus the student with excursions.  Each
iteration trains a student by IQL on all pools so far
(models/rl/train_interval.py) and scores it on one generated validation
set against DualPI2 and static targets (sim/interval_validate.py).

Nothing here reads a held-out suite: training, focus and selection use
generated scenarios only.  The student with the best validation score is
copied to OUT/final with the table (OUT/iterations.json, .md).  Every
step is resumable: runs are cached, finished steps are skipped.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

# family: (scenarios in iteration 1, new focused scenarios per later iteration)
FAMILIES = {"steady": (16, 4), "dynamics": (16, 6), "overload": (8, 3), "wide": (16, 6),
            "web-mix": (8, 3)}  # fmt: skip
VALID_PER_FAMILY = 3
TRAIN_SEED, VALID_SEED = 1611, 1698


def generate(family: str, n: int, seed: int, out: Path, focus: Path | None = None) -> Path:
    from aqmllm.sim.generate_cli import main as gen_main

    if out.exists() and any(out.glob("*.toml")):
        return out
    argv = ["generate", "--family", family, "--n", str(n), "--seed", str(seed), "--out", str(out)]
    if focus is not None:
        argv += ["--focus", str(focus)]
    if gen_main(argv) != 0:
        raise RuntimeError(f"generating {family} scenarios into {out} failed")
    return out


def folders(root: Path) -> list[str]:
    return [str(root / f) for f in FAMILIES if (root / f).is_dir()]


def scaled(n: int, scale: float) -> int:
    return max(1, round(n * scale))


def focus_files(gaps: dict[str, float], out: Path) -> dict[str, Path]:
    """Per family, a focus file of its training scenarios' gaps."""
    from aqmllm.sim.gen.focus import write_focus

    files = {}
    for fam in FAMILIES:
        mine = {f: g for f, g in gaps.items() if Path(f).parent.name == fam}
        if mine:
            files[fam] = write_focus(out / f"focus-{fam}.json", mine)
    return files


def run_iteration(k: int, out: Path, a: argparse.Namespace, prev: dict | None) -> dict[str, Any]:
    from aqmllm.models.rl.iql import IQLConfig
    from aqmllm.models.rl.train_interval import train
    from aqmllm.models.rl.trainer import TrainPlan
    from aqmllm.sim.cma_interval import pairs_of
    from aqmllm.sim.interval_collect import collect

    it = out / f"it{k}"
    done = it / "row.json"
    if done.exists():
        return json.loads(done.read_text())
    t0 = time.time()
    model = prev["student"] if prev else None
    focus: dict[str, Path] = {}
    if prev:  # the previous student's gaps on its own training pairs, and its excursions there
        old = pairs_of(folders(out / f"it{k - 1}" / "train"), 1)
        got = collect(
            old, out / f"it{k - 1}" / "collect", model, a.workers, a.run_timeout,
            base=False, pool_path=it / "collect-old" / "pool.npz",
        )  # fmt: skip
        focus = focus_files(got["model_gaps"], it)
    for fam in a.families:
        n = FAMILIES[fam][0 if k == 1 else 1]
        generate(fam, scaled(n, a.scale), TRAIN_SEED + k - 1, it / "train" / fam, focus.get(fam))
    pairs = pairs_of(folders(it / "train"), 1)
    summary = collect(pairs, it / "collect", model, a.workers, a.run_timeout)
    pools = [
        str(out / f"it{j}" / part / "pool.npz")
        for j in range(1, k + 1)
        for part in ("collect-old", "collect")
        if j > 1 or part == "collect"
    ]
    plan = TrainPlan(critic_steps=a.critic_steps, policy_steps=a.policy_steps, seed=k,
                     eval_every=1000, checkpoint_every=5000)  # fmt: skip
    student = train(pools, it / "student", IQLConfig(beta=a.beta), plan, f"interval-iql-it{k}",
                    {"iteration": k})  # fmt: skip
    val = validate(out, [f"interval:model:{student.parent}"], a)
    row = {
        "iteration": k,
        "student": str(student.parent),
        "pools": pools,
        "new_pairs": len(pairs),
        "collected": {key: v for key, v in summary.items() if key != "model_gaps"},
        "focus": {f: str(p) for f, p in focus.items()},
        "validation": val[f"interval:model:{student.parent}"],
        "wall_s": round(time.time() - t0, 1),
    }
    done.write_text(json.dumps(row, indent=1))
    return row


def validate(out: Path, candidates: list[str], a: argparse.Namespace) -> dict[str, Any]:
    from aqmllm.sim.interval_validate import main as val_main

    argv = ["--valid", *folders(out / "valid"), "--out", str(out / "validation")]
    argv += [x for c in candidates for x in ("--aqm", c)]
    argv += ["--workers", str(a.workers)]
    if val_main(argv) != 0:
        raise RuntimeError("validation failed")
    return json.loads((out / "validation" / "validation.json").read_text())


def best_iteration(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The iteration the loop selects: the best validation score."""
    return max(rows, key=lambda r: r["validation"]["score"])


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| iteration | new pairs | pool episodes (new) | steps (new) | runs | validation score"
        " | beats DualPI2 | beats best static | regressions | wall min |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        v, c = r["validation"], r["collected"]
        lines.append(
            f"| {r['iteration']} | {r['new_pairs']} | {c['episodes']} | {c['steps']} | {c['runs']}"
            f" | {v['score']:+.3f} | {v['beats_dualpi2']:.2f} | {v.get('beats_best_static', 0):.2f}"
            f" | {v['regressions']} | {r['wall_s'] / 60:.1f} |"
        )
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="interval_iterate", description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--iterations", type=int, default=3)
    ap.add_argument("--families", nargs="+", default=list(FAMILIES), choices=list(FAMILIES))
    ap.add_argument("--scale", type=float, default=1.0, help="scenario counts times this")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--beta", type=float, default=3.0)
    ap.add_argument("--critic-steps", type=int, default=20000)
    ap.add_argument("--policy-steps", type=int, default=10000)
    ap.add_argument("--run-timeout", type=float, default=600.0)
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    a = parse_args(sys.argv[1:] if argv is None else argv)
    out = Path(a.out)
    for fam in a.families:
        generate(fam, scaled(VALID_PER_FAMILY, a.scale), VALID_SEED, out / "valid" / fam)
    rows: list[dict[str, Any]] = []
    for k in range(1, a.iterations + 1):
        rows.append(run_iteration(k, out, a, rows[-1] if rows else None))
        print(table(rows), flush=True)
    best = best_iteration(rows)
    final = out / "final"
    if final.exists():
        shutil.rmtree(final)
    shutil.copytree(best["student"], final)
    (out / "iterations.json").write_text(json.dumps(rows, indent=1))
    (out / "iterations.md").write_text(table(rows))
    print(f"selected on validation: iteration {best['iteration']} -> {final}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
