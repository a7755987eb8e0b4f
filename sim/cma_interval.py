"""CMA-ES over the linear interval policy, scored in closed loop in ns-3 (issue 16, ablation (c)).

    python -m aqmllm.sim.cma_interval --train DIR... --valid DIR... --out OUT

No teacher: the 19 parameters of :mod:`aqmllm.models.rl.linear_interval`
start at zero (= DualPI2) and are moved by CMA-ES (models/rl/cma_driver.py)
on generated scenarios only; a held-out suite is refused.  Each generation
draws a batch of (scenario, seed) pairs from the training set, saves every
candidate as an interval checkpoint and runs it as ``interval:model:PATH``
(the real interval loop on simulated time) on the batch.  Its score is the
mean episode score against DualPI2 on the same scenario and seed (common
random numbers; DualPI2's runs are cached in OUT/runs and reused), each
run's score clipped to [SCORE_MIN, SCORE_MAX]: in short high-BDP runs
utilisation swings by tens of percent between near-identical policies (slow
start), and the unclipped utilisation penalty (-1 per 0.5 %) would let one
such run outweigh the rest of the batch.  A candidate the load-time probe
refuses, or whose run fails, scores SCORE_MIN on that run.

``--average-seeds K`` scores each scenario once instead, on its means over K
seeds (its own, then the judge's derived ones) against DualPI2's means on the
same seeds: the judge's point.  Run by run, DualPI2 alone scores 0 and any
other trajectory pays for chaos; on 4-seed means a setting next to DualPI2
loses half as much (sim/objective_floor.py measures it).  ``--probe AQM...``
scores fixed settings on the validation set beside the finalists.

``--schema interval-v3 --features NAME...`` searches the linear policy over
a subset of interval-v3's columns (the queue's idle time, the C standing
queue and the capacity's trend among them: what says where a lower target is
free; interval-v4 adds the link's own idle time).
``--space integral`` searches the integrating form instead (a step on the
target scale in effect each interval; zero holds it), over every input or a
named subset (``--features``, of ``--schema``'s columns), standardised over
behaviour pools when ``--standardise-from`` names them; ``--ceiling 0``
keeps its target at or below the classic one.
``--start CHECKPOINT --params PREFIX...`` searches an interval student
instead (item 6: direct fine-tuning from its trained weights; e.g. its
last layer's biases, ``net.4.bias``), models/rl/search_space.py.

Selection never looks at a held-out suite: after the last generation the
search's mean and its best candidate (best on its own generation's batch)
are run on a separate generated validation set, and the one with the
higher validation score is OUT/final.  Every generation is checkpointed
(OUT/cma_state.pkl); ``--resume`` continues.  ``--budget-min`` stops
starting generations once the next one would not fit.
"""

from __future__ import annotations

import argparse
import json
import queue
import shutil
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from aqmllm.models.interval_features import NAMES as SCHEMAS
from aqmllm.models.interval_features import V2_NAMES as FEATURE_NAMES

SCORE_MIN = -4.0
SCORE_MAX = 2.0
REF_AQM = "dualpi2"


@dataclass(frozen=True)
class Pair:
    """One training episode: a scenario file and one of its seeds."""

    scenario: str
    path: str
    seed: int


def run_score(run: dict[str, Any] | None, ref: dict[str, Any] | None) -> float:
    """One run's clipped episode score against DualPI2's; a missing or failed run
    (or reference) scores SCORE_MIN."""
    from aqmllm.models.rl.reward import episode_score

    if not run or run.get("status") != "ok" or not ref or ref.get("status") != "ok":
        return SCORE_MIN
    s = episode_score(run, ref).score
    return float(np.clip(s, SCORE_MIN, SCORE_MAX)) if np.isfinite(s) else SCORE_MIN


# A batch item: one pair, scored run by run, or a group of one scenario's seeds
# (--average-seeds), scored once on the means over its seeds, as the judge does.
Item = Pair | tuple[Pair, ...]


def seed_mean(runs: Sequence[dict[str, Any] | None]) -> dict[str, Any] | None:
    """The judge's point of one scenario (sim/judge_rule.py: means over seeds of
    utilisation, C p99 and L p99) shaped as a run; None if any run is missing or
    failed, so a group is never judged on the seeds that happened to finish."""
    from aqmllm.sim.judge_rule import point

    if not runs or any(not r or r.get("status") != "ok" for r in runs):
        return None
    pt = point([r for r in runs if r])
    out: dict[str, Any] = {"status": "ok", "utilisation": pt["util"]}
    for cls, name in (("C", "C p99"), ("L", "L p99")):
        out[cls] = {} if np.isnan(pt[name]) else {"delay_p99_ms": pt[name]}
    return out


def item_pairs(item: Item) -> tuple[Pair, ...]:
    return item if isinstance(item, tuple) else (item,)


RunFn = Callable[[list[tuple[str, Pair]]], dict[tuple[str, Pair], dict[str, Any]]]


def population_scores(
    candidates: list[str | None], batch: Sequence[Item], run: RunFn
) -> list[float]:
    """Scores of candidates (AQM names; None: refused before any run) on one
    batch, DualPI2 run (or reused) on the same pairs: the mean over items of the
    clipped score, a group's on its seed means against DualPI2's on the same seeds."""
    if not batch:
        raise ValueError("a batch of no scenarios scores nothing")
    pairs = [p for item in batch for p in item_pairs(item)]
    wanted = [(REF_AQM, p) for p in pairs]
    wanted += [(aqm, p) for aqm in candidates if aqm is not None for p in pairs]
    got = run(wanted)

    def score(aqm: str, item: Item) -> float:
        if isinstance(item, Pair):
            return run_score(got.get((aqm, item)), got.get((REF_AQM, item)))
        mine = seed_mean([got.get((aqm, p)) for p in item])
        return run_score(mine, seed_mean([got.get((REF_AQM, p)) for p in item]))

    return [
        SCORE_MIN if aqm is None else float(np.mean([score(aqm, i) for i in batch]))
        for aqm in candidates
    ]


def pairs_of(folders: Sequence[str], seeds_per_scenario: int | None) -> list[Pair]:
    """(scenario, seed) pairs of generated folders, the first seeds_per_scenario of
    each scenario's own seeds (None: all); a held-out file is refused."""
    from aqmllm.sim.scenario import is_held_out, load_scenarios

    scenarios = load_scenarios(list(folders))
    held = [s.path for s in scenarios if is_held_out(s.path)]
    if held:
        raise ValueError(f"{held[0]} is in a held-out suite: never train or select on it")
    return [Pair(s.name, s.path, seed) for s in scenarios for seed in s.seeds[:seeds_per_scenario]]


def groups_of(folders: Sequence[str], seeds: int) -> list[tuple[Pair, ...]]:
    """One group per generated scenario: its own seeds first, then derived ones
    (sim/evaluate_cli.py seeds_of, as the judge's --seeds), `seeds` in all."""
    from aqmllm.sim.evaluate_cli import seeds_of

    if seeds < 1:
        raise ValueError(f"a group needs at least 1 seed, got {seeds}")
    by_scenario: dict[str, list[Pair]] = {}
    for p in pairs_of(folders, None):  # the held-out refusal, in one place
        by_scenario.setdefault(p.path, []).append(p)
    return [
        tuple(
            Pair(own[0].scenario, path, seed)
            for seed in seeds_of(tuple(q.seed for q in own), seeds)
        )
        for path, own in by_scenario.items()
    ]


class KeptWorkers:
    """The campaign's run workers, kept from one generation to the next: a worker
    loads ns-3 once (~10 s of CPU), a generation is a few dozen runs."""

    def __init__(self, workers: int, timeout_s: float | None) -> None:
        self.workers, self.timeout_s = workers, timeout_s
        self.free: queue.Queue[Any] = queue.Queue()
        self.made: list[Any] = []

    def map(self, jobs: list[Any]) -> Iterator[dict[str, Any]]:
        from aqmllm.sim.campaign import RunWorker

        def one(job: Any) -> dict[str, Any]:
            try:
                w = self.free.get_nowait()
            except queue.Empty:
                w = RunWorker()
                self.made.append(w)
            try:
                return w.run(job, self.timeout_s)
            finally:
                self.free.put(w)

        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            for fut in as_completed([pool.submit(one, j) for j in jobs]):
                yield fut.result()

    def close(self) -> None:
        for w in self.made:
            w.close()


class NS3Runner:
    """Runs (aqm, pair) jobs through the campaign's run workers into OUT/runs (cached)."""

    def __init__(self, out: Path, workers: int, run_timeout: float | None) -> None:
        from aqmllm.sim.campaign import RunStore
        from aqmllm.sim.ns3.run import DEFAULT_LATENCY_US

        self.out, self.store = out, RunStore(out)
        self.executor = KeptWorkers(workers, run_timeout)
        self.latency_us = DEFAULT_LATENCY_US
        self.runs = 0
        self.cpu_s = 0.0

    def __call__(self, wanted: list[tuple[str, Pair]]) -> dict[tuple[str, Pair], dict[str, Any]]:
        from aqmllm.sim.campaign import Job, run_campaign, run_id

        jobs = [
            Job(
                run_id=run_id(p.scenario, aqm, p.seed),
                scenario=p.scenario,
                scenario_path=p.path,
                aqm=aqm,
                seed=p.seed,
                latency_us=self.latency_us,
                workdir=str(self.out / "logs"),
                keep_log=False,
            )
            for aqm, p in wanted
        ]
        new = [not self.store.finished(j.run_id) for j in jobs]
        records = run_campaign(jobs, self.store, self.executor, resume=True)  # type: ignore[arg-type]
        self.runs += sum(new)
        done = [r for r, n in zip(records, new, strict=True) if n]
        self.cpu_s += sum(float(r.get("cpu_s") or 0.0) for r in done)
        return {w: r for w, r in zip(wanted, records, strict=True)}


def _candidate(space: Any, module: Any, folder: Path, name: str) -> str | None:
    """Save a candidate and check it loads as the daemon would; its AQM name or None."""
    from aqmllm.daemon.interval_policies import parse_spec
    from aqmllm.daemon.policies import PolicyError

    space.save(module, folder, {"name": name, "trainer": "cma-interval"})
    aqm = f"interval:model:{folder}"
    try:
        parse_spec(aqm.removeprefix("interval:"))
    except PolicyError as exc:
        print(f"  candidate {name} refused: {exc}", flush=True)
        return None
    return aqm


def parse_args(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="cma_interval", description=__doc__.splitlines()[0])
    ap.add_argument("--train", nargs="+", required=True, help="generated scenario folders")
    ap.add_argument("--valid", nargs="+", required=True, help="generated validation folders")
    ap.add_argument("--out", required=True)
    ap.add_argument("--generations", type=int, default=12)
    ap.add_argument("--popsize", type=int, default=8)
    ap.add_argument("--batch", type=int, default=8, help="training pairs per generation")
    ap.add_argument("--sigma", type=float, default=0.3, help="initial step (log2 per feature unit)")
    ap.add_argument("--seeds-per-scenario", type=int, default=1, help="training seeds")
    ap.add_argument("--valid-seeds", type=int, default=2, help="validation seeds per scenario")
    ap.add_argument(
        "--average-seeds",
        type=int,
        metavar="K",
        help="score each scenario once on its means over K seeds (own, then derived) instead"
        " of run by run; validation averages over max(K, --valid-seeds)",
    )
    ap.add_argument(
        "--probe",
        nargs="+",
        default=[],
        metavar="AQM",
        help="fixed AQMs (e.g. dualpi2@14ms) scored on the validation set beside the finalists:"
        " the objective's own floor",
    )
    ap.add_argument("--seed", type=int, default=16)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--run-timeout", type=float, default=300.0)
    ap.add_argument("--budget-min", type=float, default=60.0, help="wall budget of the search")
    ap.add_argument("--resume", action="store_true")
    ap.add_argument(
        "--space",
        choices=("linear", "integral"),
        default="linear",
        help="without --start: the absolute (linear) or the integrating target policy",
    )
    ap.add_argument(
        "--features", nargs="+", default=[], help="without --start: the searched inputs"
    )
    ap.add_argument(
        "--schema",
        choices=tuple(SCHEMAS),
        help="the feature schema the linear or integrating policy reads (default interval-v2;"
        " v3 adds the queue's idle time, the C standing queue and the capacity's trend;"
        " v4 the link's idle time)",
    )
    ap.add_argument(
        "--ceiling",
        type=float,
        help="with --space integral: the highest target scale it may answer, in octaves"
        " (default +1, the kernel's; 0 never raises the target above the classic one)",
    )
    ap.add_argument(
        "--standardise-from",
        nargs="+",
        default=[],
        help="with --space integral: behaviour pools whose states centre and scale the inputs",
    )
    ap.add_argument("--start", help="an interval student to fine-tune (default: --space)")
    ap.add_argument("--params", nargs="+", default=[], help="with --start: tensor name prefixes")
    ap.add_argument("--name", default="cma-interval", help="the final policy's name")
    return ap.parse_args(argv)


def train(args: argparse.Namespace) -> dict[str, Any]:

    if args.standardise_from and (args.start or args.space != "integral"):
        raise ValueError("--standardise-from is for --space integral only")
    if args.features and args.start:
        raise ValueError("--features names a linear or integral policy's inputs, not --start's")
    if args.schema and args.start:
        raise ValueError("--schema names a linear or integral policy's features, not --start's")
    if args.ceiling is not None and (args.start or args.space != "integral"):
        raise ValueError("--ceiling is for --space integral only")
    from aqmllm.sim.ns3.run import split_aqm

    for aqm in args.probe:
        split_aqm(aqm)
    space = _space(args)  # an unknown schema or feature, before any scenario, run or folder
    out = Path(args.out)
    train_pairs: list[Item]
    valid_pairs: list[Item]
    if args.average_seeds is None:
        train_pairs = list(pairs_of(args.train, args.seeds_per_scenario))
        valid_pairs = list(pairs_of(args.valid, args.valid_seeds))
    else:
        train_pairs = list(groups_of(args.train, args.average_seeds))
        valid_pairs = list(groups_of(args.valid, max(args.average_seeds, args.valid_seeds)))
    runner = NS3Runner(out, args.workers, args.run_timeout)
    try:
        return _search(args, out, train_pairs, valid_pairs, runner, space)
    finally:
        runner.executor.close()


def _space(args: argparse.Namespace) -> Any:
    """What the options ask to search; ValueError or ModelError naming what does not fit."""
    from aqmllm.models.rl.search_space import integral_space, linear_space, student_space

    if args.start:
        return student_space(args.start, args.params)
    if args.space == "integral":
        return integral_space(args.features, args.standardise_from, args.schema, args.ceiling)
    return linear_space(args.schema, args.features)


def _search(
    args: argparse.Namespace,
    out: Path,
    train_pairs: list[Item],
    valid_pairs: list[Item],
    runner: NS3Runner,
    space: Any = None,
) -> dict[str, Any]:
    from aqmllm.models.rl.cma_driver import CMAConfig, CMADriver, searched_parameters, set_vector

    space = space or _space(args)
    t0, cpu0 = time.time(), time.process_time()
    gen_box = {"g": 0}

    def objective(modules: list[Any], batch: Sequence[Item]) -> list[float]:
        g = gen_box["g"]
        names = [
            _candidate(space, m, out / "cand" / f"g{g:03d}-c{i:02d}", f"g{g:03d}-c{i:02d}")
            for i, m in enumerate(modules)
        ]
        return population_scores(names, batch, runner)

    cfg = CMAConfig(
        generations=args.generations,
        popsize=args.popsize,
        sigma=args.sigma,
        batch_size=args.batch,
        seed=args.seed,
        diagonal=False,
        params=space.params,
    )
    driver = CMADriver(
        space.make(), train_pairs, cfg, population_objective=objective, out=out, log=None
    )
    if args.resume:
        driver.resume()
    unit = "pairs" if args.average_seeds is None else f"scenarios of {args.average_seeds} seeds"
    print(
        f"cma-interval: {driver.dim} parameters, {len(train_pairs)} training {unit},"
        f" {len(valid_pairs)} validation {unit}, popsize {driver.es.popsize}, batch {args.batch}",
        flush=True,
    )
    budget_s = args.budget_min * 60
    while driver.generation < cfg.generations:
        gen_box["g"] = driver.generation
        elapsed = time.time() - t0
        last = driver.history[-1]["seconds"] if driver.history else 0.0
        if driver.history and elapsed + last > budget_s:
            print(f"cma-interval: wall budget reached after {driver.generation} generations")
            break
        row = driver.step()
        print(
            f"generation {driver.generation - 1}: best {row['best']:+.3f} mean {row['mean']:+.3f}"
            f" best-ever {row['best_ever']:+.3f} sigma {row['sigma']:.3f}"
            f" {row['seconds']:.0f} s (runs so far {runner.runs})",
            flush=True,
        )
    # Validation: the search's mean and its best candidate, on pairs never searched on.
    finalists = {"mean": np.asarray(driver.es.mean, np.float64), "best": driver.best_x}
    names: dict[str, str | None] = {}
    for key, x in finalists.items():
        m = space.make()
        set_vector(searched_parameters(m, space.params), x)
        names[key] = _candidate(space, m, out / "finalist" / key, f"{args.name}-{key}")
    scores = population_scores([*names.values(), *args.probe], valid_pairs, runner)
    valid = dict(zip(names, scores[: len(names)], strict=True))
    probe = dict(zip(args.probe, scores[len(names) :], strict=True))
    pick = max(valid, key=lambda k: valid[k])
    final = out / "final"
    if final.exists():
        shutil.rmtree(final)
    m = space.make()
    set_vector(searched_parameters(m, space.params), finalists[pick])
    summary = {
        "generations": driver.generation,
        "history": driver.history,
        "validation": valid,
        "probe": probe,
        "picked": pick,
        "average_seeds": args.average_seeds,
        "train_pairs": len(train_pairs),
        "valid_pairs": len(valid_pairs),
        "train": list(args.train),
        "valid": list(args.valid),
        "popsize": int(driver.es.popsize),
        "batch": args.batch,
        "sigma0": args.sigma,
        "seed": args.seed,
        "score_clip": [SCORE_MIN, SCORE_MAX],
        # the generations' wall across resumes; runs, CPU and wall below are this invocation's
        "search_s": round(sum(float(h["seconds"]) for h in driver.history), 1),
        "ns3_runs": runner.runs,
        "ns3_cpu_s": round(runner.cpu_s, 1),
        "wall_s": round(time.time() - t0, 1),
        "trainer_cpu_s": round(time.process_time() - cpu0, 1),
        "space": space.name,
        "start": space.start,
        "searched": [n for n, _ in searched_parameters(m, space.params)],
    }
    if space.name in ("linear", "integral"):
        summary["parameters"] = {
            "weight": [float(v) for v in m.weight.detach().numpy().ravel()],
            "bias": float(m.bias.detach().numpy()[0]),
            "features": list(getattr(m, "features", FEATURE_NAMES)),
            "schema": getattr(m, "schema", "interval-v2"),
        }
        if space.name == "integral":
            summary["parameters"]["ceiling"] = float(m.ceiling)
    # the pick's provenance: what it searched, on which generated folders, from where
    keys = ("picked", "seed", "space", "start", "train", "valid", "generations", "average_seeds")
    space.save(m, final, {"name": args.name, **{k: summary[k] for k in keys}})
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(f"validation: {valid}; probe: {probe}; picked {pick}; wrote {final}", flush=True)
    return summary


def main(argv: list[str] | None = None) -> int:
    from aqmllm.models.checkpoint import ModelError

    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        train(args)
    except (ValueError, ModelError) as exc:
        print(f"cma_interval: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
