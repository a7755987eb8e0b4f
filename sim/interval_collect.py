"""Closed-loop pool collection for the interval tier (issue 16, items 3 and 5).

    python -m aqmllm.sim.interval_collect --scenarios DIR... --out OUT [--model PATH]

Every (generated scenario, seed) pair is run in ns-3 under several
behaviour policies (models/rl/behaviour_spec.py) as
``interval:behaviour:NAME,seed=S``: the real interval loop on simulated
time, its rounds -- the record each queue's policy saw and the levels it
chose -- traced to a file beside the run.  The runs go through the
campaign's executor into OUT/runs (resumable: a finished run is not run
again) and :func:`build_pool` turns the traces into a format-2 pool,
OUT/pool.npz, each episode keeping its scenario, seed, behaviour and its
outcome against the fallback's run of the same pair.

Held-out suites are refused: pools are collected on generated scenarios only.
With ``--model`` (iteration 2 on), the current student with one-level
excursions joins the behaviours.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

FEATURES = "interval-v2"
WINDOW = 4  # records per state: 64 ms at Tupdate = 16 ms
# (behaviour, episodes per pair): the fallback once (the reference and the
# pool's "keep" actions), the randomised and perturbed ones twice (two seeds)
BEHAVIOURS: tuple[tuple[str, int], ...] = (
    ("fallback", 1),
    ("randomised", 2),
    ("perturbed", 2),
    ("perturbed-randomised", 2),
    ("adaptive-perturbed", 1),
)
MODEL_BEHAVIOUR = ("model-perturbed", 2)
REF = "interval:behaviour:fallback,seed=0"


def behaviour_seed(scenario: str, seed: int, name: str, k: int) -> int:
    """A stable seed per (pair, behaviour, copy): episodes replay from their names."""
    h = hashlib.sha256(f"{scenario}/{seed}/{name}/{k}".encode()).digest()
    return int.from_bytes(h[:4], "little") & 0x7FFFFFFF


def behaviour_aqms(
    pair: Any,
    model: str | None = None,
    base: bool = True,
    plan: Sequence[tuple[str, int]] | None = None,
    behaviour_model: str | None = None,
) -> list[str]:
    """The behaviour runs of one pair: the reference (the fallback) always; the classic-based
    behaviours when ``base`` (or the given plan of (name, copies)); the model with
    excursions when there is one (``behaviour_model`` names the model of a plan's
    model-perturbed)."""
    steps = list(plan) if plan is not None else list(BEHAVIOURS) if base else [("fallback", 1)]
    steps += [MODEL_BEHAVIOUR] if model else []
    if all(name != "fallback" for name, _ in steps):
        steps.insert(0, ("fallback", 1))
    out = []
    for name, copies in steps:
        if name == "fallback":
            out.append(REF)
            continue
        for k in range(copies):
            s = behaviour_seed(pair.scenario, pair.seed, name, k)
            extra = f",model={model or behaviour_model}" if name == "model-perturbed" else ""
            out.append(f"interval:behaviour:{name},seed={s}{extra}")
    return out


def replay_features(records: np.ndarray) -> np.ndarray:
    """One queue's records -> (T, F) feature rows, exactly as the daemon's history makes them."""
    from aqmllm.models.interval_features import feature_fn
    from aqmllm.models.interval_history import IntervalHistory

    fn, n = feature_fn(FEATURES)
    # a window as long as the episode keeps every record's row; one update adds them
    # in order, as the daemon's history does record by record
    hist = IntervalHistory(window=max(len(records), 1))
    hist.track(FEATURES, fn, n)
    hist.update(records)
    return hist.features(FEATURES, records["queue_id"][:1].astype(np.int64), len(records))[0]


def state_schema() -> dict[str, Any]:
    from aqmllm.models.interval_features import feature_fn

    return {"features": FEATURES, "window": WINDOW, "n_features": feature_fn(FEATURES)[1]}


def outcome(run: dict[str, Any], ref: dict[str, Any] | None) -> dict[str, Any]:
    from aqmllm.models.rl.reward import episode_score

    out: dict[str, Any] = {
        "util": run.get("utilisation"),
        "c_p99_ms": (run.get("C") or {}).get("delay_p99_ms"),
        "l_p99_ms": (run.get("L") or {}).get("delay_p99_ms"),
    }
    if ref and ref.get("status") == "ok":
        es = episode_score(run, ref)
        out.update(score=float(es.score), beats=bool(es.beats))
    return out


def build_pool(runs: Sequence[dict[str, Any]], refs: dict[tuple[str, int], dict], path: Path):
    """Traced runs -> a format-2 pool at path; returns (pool path, episodes, steps)."""
    from aqmllm.models.rl.episodes import episode_from_records, queue_order
    from aqmllm.models.rl.pool import write_interval_pool

    episodes = []
    for run in runs:
        trace = run.get("interval_trace")
        if run.get("status") != "ok" or not trace or not Path(trace).exists():
            continue
        with np.load(trace, allow_pickle=False) as z:
            records, actions = z["records"], z["actions"]
        behaviour = {"name": run["aqm"].removeprefix("interval:behaviour:")}
        res = outcome(run, refs.get((run["scenario"], int(run["seed"]))))
        for idx in queue_order(records).values():
            if len(idx) < 2:
                continue
            ep = episode_from_records(
                records[idx], actions[idx], replay_features, WINDOW,
                run["scenario"], int(run["seed"]), behaviour,
            )  # fmt: skip
            ep.outcomes = res
            episodes.append(ep)
    if not episodes:
        raise ValueError("no traced run finished: nothing to pool")
    write_interval_pool(path, episodes, state_schema())
    return path, len(episodes), sum(len(e) for e in episodes)


def parse_args(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="interval_collect", description=__doc__.splitlines()[0])
    ap.add_argument("--scenarios", nargs="+", required=True, help="generated scenario folders")
    ap.add_argument("--out", required=True)
    ap.add_argument("--seeds-per-scenario", type=int, default=1)
    ap.add_argument("--model", help="the current interval student (adds model-perturbed)")
    ap.add_argument(
        "--behaviours", nargs="+", metavar="NAME:COPIES",
        help="only these behaviours (and the reference, not pooled) instead of the default plan",
    )  # fmt: skip
    ap.add_argument("--behaviour-model", help="model=PATH for model-perturbed in --behaviours")
    ap.add_argument("--pool", help="the pool's path (default OUT/pool.npz)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--run-timeout", type=float, default=600.0)
    return ap.parse_args(argv)


def collect(
    pairs: Sequence[Any],
    out: Path,
    model: str | None,
    workers: int,
    run_timeout: float,
    base: bool = True,
    pool_path: Path | None = None,
    plan: Sequence[tuple[str, int]] | None = None,
    behaviour_model: str | None = None,
) -> dict[str, Any]:
    """Run every pair under the behaviours (and, with a model, the model itself for its
    gaps) into OUT/runs; write the pool (OUT/pool.npz unless ``pool_path``).  Without
    ``base`` only the model's excursions are pooled (the pairs' other behaviours are in
    an earlier pool).  Returns what happened, and each pair's model gap."""
    from aqmllm.sim.cma_interval import NS3Runner, run_score

    wanted = [
        (aqm, p) for p in pairs for aqm in behaviour_aqms(p, model, base, plan, behaviour_model)
    ]
    if model:
        wanted += [(f"interval:model:{model}", p) for p in pairs]
    print(f"collecting {len(wanted)} runs: {len(pairs)} pairs", flush=True)
    t0 = time.time()
    runner = NS3Runner(out, workers, run_timeout)
    try:
        got = runner(wanted)
    finally:
        runner.executor.close()
    if plan is not None:  # the plan's behaviours only (the reference is in an earlier pool)
        pooled = tuple(f"interval:behaviour:{n}," for n, _ in plan if n != "fallback")
    elif base:
        pooled = ("interval:behaviour:",)
    else:
        pooled = ("interval:behaviour:model-perturbed",)
    traced = [r for (aqm, _), r in got.items() if r and aqm.startswith(pooled)]
    failed = sum(1 for r in got.values() if not r or r.get("status") != "ok")
    refs = {(p.scenario, p.seed): got[(REF, p)] for p in pairs if got.get((REF, p))}
    path, n_ep, n_steps = build_pool(traced, refs, pool_path or out / "pool.npz")
    gaps = {}
    if model:
        for p in pairs:
            gaps[p.path] = -run_score(got.get((f"interval:model:{model}", p)), got.get((REF, p)))
    summary = {
        "pool": str(path),
        "episodes": n_ep,
        "steps": n_steps,
        "runs": len(wanted),
        "new_runs": runner.runs,
        "failed": failed,
        "run_cpu_s": round(runner.cpu_s, 1),
        "wall_s": round(time.time() - t0, 1),
        "model_gaps": gaps,
    }
    print(
        f"pool: {path} ({n_ep} episodes, {n_steps} steps; {runner.runs} new runs,"
        f" {failed} failed, {runner.cpu_s:.0f} s of run CPU, {summary['wall_s']:.0f} s wall)"
    )
    return summary


def main(argv: list[str] | None = None) -> int:
    from aqmllm.sim.cma_interval import pairs_of

    a = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        pairs = pairs_of(a.scenarios, a.seeds_per_scenario)
    except (ValueError, OSError) as exc:
        print(f"interval_collect: {exc}", file=sys.stderr)
        return 2
    if a.model and not Path(a.model).exists():
        print(f"interval_collect: no such model {a.model!r}", file=sys.stderr)
        return 2
    plan = None
    if a.behaviours:
        from aqmllm.models.rl.behaviour_spec import BEHAVIOURS as KNOWN

        plan = []
        for item in a.behaviours:
            name, _, copies = item.partition(":")
            if name not in KNOWN or not copies.isdigit() or int(copies) < 1:
                print(f"interval_collect: {item!r} is not NAME:COPIES with NAME one of"
                      f" {', '.join(KNOWN)}", file=sys.stderr)  # fmt: skip
                return 2
            plan.append((name, int(copies)))
    try:
        collect(
            pairs, Path(a.out), a.model, a.workers, a.run_timeout,
            pool_path=Path(a.pool) if a.pool else None, plan=plan,
            behaviour_model=a.behaviour_model,
        )  # fmt: skip
    except ValueError as exc:  # e.g. a plan of the reference alone: no episode to pool
        print(f"interval_collect: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
