"""`aqmllm evaluate SCENARIO...`: closed-loop ns-3 evaluation of the AQMs.

Every (scenario, seed, AQM) runs in a worker process (ns-3 is a process-wide
singleton); results go to OUT/report.json, OUT/report.csv, OUT/report.md and
PNG plots.  A model AQM (student, teacher) runs the real daemon loop on the
simulated clock with the measured inference latency charged to each verdict.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import replace
from pathlib import Path

from aqmllm.sim.scenario import ScenarioError, load_scenario, load_scenarios
from tqdm import tqdm

from aqmllm.console import add_version, nonneg_float, positive_float, positive_int

SHIPPED_STUDENT = Path(__file__).resolve().parents[1] / "models" / "shipped" / "student"


def model_problem(path: str) -> str | None:
    """Why the model cannot run as the daemon would run it (files, seals, probe), or None.

    Checked before any run: a model that fails would leave the fallback
    deciding, and the report would credit it to the model.
    """
    from aqmllm.models.checkpoint import ModelError
    from aqmllm.models.probe import probe_policy
    from aqmllm.models.runtime import load_policy

    try:
        probe_policy(load_policy(path))
    except ModelError as exc:
        return str(exc)
    return None


def _job(args: tuple) -> dict:
    path, aqm, seed, model, latency, duration, workdir = args
    from aqmllm.sim.ns3.run import RunSpec, run

    sc = load_scenario(path)
    if duration:
        sc = replace(
            sc,
            duration_s=duration,
            rate_changes=tuple(c for c in sc.rate_changes if c.at_s < duration),
        )
    t0 = time.time()
    m = run(RunSpec(sc, aqm, seed, model=model, latency_us=latency), Path(workdir))
    m["wall_s"] = round(time.time() - t0, 2)
    return m


def evaluate(
    paths: list[str],
    aqms: list[str],
    out: Path,
    model: str | None,
    latency: float,
    duration: float | None,
    workers: int,
) -> dict:
    scenarios = load_scenarios(paths)
    out.mkdir(parents=True, exist_ok=True)
    jobs = [
        (s.path, aqm, seed, model, latency, duration, str(out / "logs"))
        for s in scenarios
        for seed in s.seeds
        for aqm in aqms
    ]
    results: list[dict] = []
    ctx = mp.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        futures = {pool.submit(_job, j): j for j in jobs}
        for fut in tqdm(as_completed(futures), total=len(futures), desc="ns-3 runs", unit="run"):
            results.append(fut.result())
    report: dict = {
        "scenarios": {},
        "aqms": aqms,
        "model": model,
        "latency_us": latency,
        "generated": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    for m in sorted(results, key=lambda r: (r["scenario"], aqms.index(r["aqm"]), r["seed"])):
        report["scenarios"].setdefault(m["scenario"], {}).setdefault(m["aqm"], []).append(m)
    (out / "report.json").write_text(json.dumps(report, indent=2))
    from aqmllm.sim.report import write_report

    write_report(report, out)
    return report


def main(argv: list[str]) -> int:
    from aqmllm.sim.ns3.run import CORE_AQMS, DEFAULT_LATENCY_US, NS3_AQMS, aqm_problem

    default_aqms = [*CORE_AQMS, *NS3_AQMS]
    ap = argparse.ArgumentParser(prog="aqmllm evaluate", description=__doc__.splitlines()[0])
    ap.add_argument("scenarios", nargs="+", help="scenario files or folders")
    ap.add_argument("--out", default="out/evaluate", help="output folder")
    ap.add_argument(
        "--aqm",
        action="append",
        help=f"AQMs to run (default: {default_aqms} plus student when a model exists);"
        " interval:POLICY runs DualPI2 with the interval loop writing POLICY's residuals"
        " (interval:fallback, interval:constant:c=+1,l=-1,target=-1,step=2000)",
    )
    ap.add_argument("--model", help="student checkpoint (default: the shipped one)")
    ap.add_argument(
        "--latency-us",
        type=nonneg_float,
        default=None,
        help="inference latency charged to each verdict (default: measured p99)",
    )
    ap.add_argument(
        "--duration", type=positive_float, help="override every scenario's duration (s)"
    )
    ap.add_argument("--workers", type=positive_int, default=2)
    add_version(ap)
    args = ap.parse_args(argv)

    model = args.model or (
        str(SHIPPED_STUDENT) if (SHIPPED_STUDENT / "manifest.json").exists() else None
    )
    aqms = args.aqm or ([*(["student"] if model else []), *default_aqms])
    bad = [p for p in map(aqm_problem, aqms) if p]
    if bad:
        ap.error("; ".join(bad))
    if any(a in ("student", "teacher") for a in aqms) and not model:
        ap.error("the student needs --model (no shipped student found)")
    if not model:
        print(
            "aqmllm evaluate: no shipped student found; evaluating the classical AQMs only",
            file=sys.stderr,
        )
    elif any(a in ("student", "teacher") for a in aqms):
        why = model_problem(model)
        if why:
            print(f"aqmllm evaluate: --model: {why}", file=sys.stderr)
            return 2
    try:
        report = evaluate(
            args.scenarios,
            aqms,
            Path(args.out),
            model,
            args.latency_us or DEFAULT_LATENCY_US,
            args.duration,
            args.workers,
        )
    except ScenarioError as exc:
        print(f"aqmllm evaluate: {exc}", file=sys.stderr)
        return 2
    print(
        f"wrote {args.out}/report.json, report.csv, report.md and plots"
        f" ({sum(len(v) for s in report['scenarios'].values() for v in s.values())} runs)"
    )
    return 0
