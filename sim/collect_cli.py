"""`aqmllm collect`: experience pools from the expert AQMs in ns-3.

Each (training scenario, seed, expert) runs in a worker process with a
silent recorder on the ring: every record is kept, every decision the
expert takes at dequeue is paired with it.  Perturbed variants (other
seeds) add coverage.  Evaluation scenarios are refused: they must never
be used for training.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import replace
from pathlib import Path

from aqmllm.bridge.layout import FALLBACKS
from aqmllm.sim.scenario import ScenarioError, is_held_out, load_scenario, load_scenarios
from tqdm import tqdm

from aqmllm.console import add_version, count, output_dir, positive_float, positive_int

EXPERTS = tuple(FALLBACKS)


def _job(args: tuple) -> dict:
    path, expert, seed, duration, workdir = args
    from aqmllm.sim.ns3.run import RunSpec, run

    sc = load_scenario(path)
    if duration:
        sc = replace(
            sc,
            duration_s=duration,
            rate_changes=tuple(c for c in sc.rate_changes if c.at_s < duration),
        )
    m = run(RunSpec(sc, expert, seed, collect=True), Path(workdir))
    exp = m.pop("experience")
    return {
        "scenario": sc.name,
        "expert": expert,
        "seed": seed,
        "records": exp["records"],
        "actions": exp["actions"],
        "metrics": m,
    }


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="aqmllm collect", description=__doc__.splitlines()[0])
    ap.add_argument("scenarios", nargs="+", help="training scenario files or folders")
    ap.add_argument("--out", required=True, help="pool file to write (.npz)")
    ap.add_argument(
        "--expert", action="append", choices=EXPERTS, help="experts to record (default: all three)"
    )
    ap.add_argument(
        "--extra-seeds",
        type=count,
        default=0,
        help="perturbed variants: this many more seeds per scenario",
    )
    ap.add_argument(
        "--duration", type=positive_float, help="override every scenario's duration (s)"
    )
    ap.add_argument("--workers", type=positive_int, default=2)
    add_version(ap)
    args = ap.parse_args(argv)
    try:
        scenarios = load_scenarios(args.scenarios)
    except ScenarioError as exc:
        print(f"aqmllm collect: {exc}", file=sys.stderr)
        return 2
    held_out = [s.path for s in scenarios if is_held_out(s.path)]
    if held_out:
        print(
            f"aqmllm collect: refusing evaluation scenarios: {', '.join(held_out)}", file=sys.stderr
        )
        return 2
    experts = args.expert or list(EXPERTS)
    workdir = Path(args.out).with_suffix("").as_posix() + "-logs"
    output_dir(workdir)  # and so the pool's folder: refused now, not after the runs
    jobs = [
        (s.path, e, seed, args.duration, workdir)
        for s in scenarios
        for seed in [*s.seeds, *range(1000 + s.seeds[0], 1000 + s.seeds[0] + args.extra_seeds)]
        for e in experts
    ]
    from aqmllm.models.pool import Episode, write_pool

    episodes = []
    with ProcessPoolExecutor(max_workers=args.workers, mp_context=mp.get_context("spawn")) as pool:
        futures = [pool.submit(_job, j) for j in jobs]
        for fut in tqdm(as_completed(futures), total=len(futures), desc="expert runs", unit="run"):
            r = fut.result()
            episodes.append(
                Episode(
                    r["records"],
                    r["actions"],
                    r["scenario"],
                    r["expert"],
                    {"seed": r["seed"], "utilisation": r["metrics"]["utilisation"]},
                )
            )
    episodes.sort(key=lambda e: (e.scenario, e.expert, e.outcomes["seed"]))
    path = write_pool(args.out, episodes)
    steps = sum(len(e.actions) for e in episodes)
    print(f"wrote {path}: {len(episodes)} episodes, {steps} decisions")
    return 0
