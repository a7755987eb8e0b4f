"""`aqmllm evaluate SCENARIO...`: closed-loop ns-3 evaluation of the AQMs.

Every (scenario, seed, AQM) is one run in its own run-worker process
(sim/campaign.py): a crash fails that run only, every result lands in
OUT/runs/RUN_ID.json as it finishes, `--resume` skips finished runs, and the
exit status is 1 when any run failed.  The report (OUT/report.json, .csv,
.md and PNG plots) lists failed runs apart.  `--sweep` adds each classic
AQM over its delay target, for the frontiers.  A model AQM (student,
teacher) runs the real daemon loop on the simulated clock with the measured
inference latency charged to each verdict; ``interval:POLICY`` runs the
fallback with the interval loop writing POLICY's residuals.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

from aqmllm.sim.scenario import ScenarioError, load_scenarios

from aqmllm.console import add_version, positive_float, positive_int

# --sweep: each classic AQM over its main parameter (the default setting runs anyway).
SWEEP = {
    "dualpi2": (5.0, 10.0, 15.0, 20.0, 30.0),
    "pie": (5.0, 10.0, 15.0, 20.0, 30.0),
    "codel": (2.0, 5.0, 10.0),
    "fq-codel": (5.0,),
}
SHIPPED_STUDENT = Path(__file__).resolve().parents[1] / "models" / "shipped" / "student"


class ArgumentError(ValueError):
    """A command-line argument is wrong: said before any run starts."""


def default_aqms() -> list[str]:
    """Every classic AQM: the core's fallbacks, then ns-3's own queue discs."""
    from aqmllm.sim.ns3.run import CORE_AQMS, NS3_AQMS

    return [*CORE_AQMS, *NS3_AQMS]


def sweep_aqms() -> list[str]:
    from aqmllm.sim.ns3.run import aqm_name

    return [aqm_name(base, t) for base, targets in SWEEP.items() for t in targets]


def plan_aqms(requested: list[str] | None, model: str | None, sweep: bool) -> list[str]:
    from aqmllm.sim.ns3.run import MODEL_AQMS, split_aqm

    aqms = list(requested or ([*(["student"] if model else []), *default_aqms()]))
    if sweep:
        aqms += sweep_aqms()
    aqms = list(dict.fromkeys(aqms))
    for a in aqms:
        try:
            split_aqm(a)
        except ValueError as exc:
            raise ArgumentError(str(exc)) from None
    if any(split_aqm(a)[0] in MODEL_AQMS for a in aqms) and not model:
        raise ArgumentError("the student needs --model (no shipped student found)")
    return aqms


def _load_checked(model: str) -> Any:
    """The policy, loaded and probed as the daemon would (files, seals, probe)."""
    from aqmllm.models.probe import probe_policy
    from aqmllm.models.runtime import load_policy

    policy = load_policy(model)
    probe_policy(policy)
    return policy


def model_problem(model: str) -> str | None:
    """Why the model cannot run as the daemon would run it, or None.

    Checked before any run: a model that fails would leave the fallback
    deciding, and the report would credit it to the model.
    """
    try:
        check_model(model)
    except ArgumentError as exc:
        return str(exc).removeprefix(f"--model {model}: ")
    return None


def check_model(model: str) -> str:
    """Load and probe the model once here, so a missing or corrupt one stops
    the campaign now; its policy's name."""
    from aqmllm.models.checkpoint import ModelError

    if not Path(model).exists():
        raise ArgumentError(f"--model {model}: no such file or folder")
    try:
        policy = _load_checked(model)
    except ModelError as exc:
        raise ArgumentError(f"--model {model}: {exc}") from None
    except (OSError, ValueError, KeyError) as exc:
        raise ArgumentError(f"--model {model}: cannot load it: {exc}") from None
    return str(getattr(policy, "name", "model"))


def check_out(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise ArgumentError(f"--out {out}: not writable ({exc.strerror or exc})") from None


def jobs_for(scenarios, aqms: list[str], args: argparse.Namespace, out: Path, model):
    from aqmllm.sim.campaign import Job, run_id

    return [
        Job(
            run_id=run_id(s.name, aqm, seed),
            scenario=s.name,
            scenario_path=s.path,
            aqm=aqm,
            seed=seed,
            latency_us=args.latency_us,
            workdir=str(out / "logs"),
            model=model,
            duration=args.duration,
            keep_log=args.keep_logs,
        )
        for s in scenarios
        for seed in seeds_of(s.seeds, args.seeds)
        for aqm in aqms
    ]


SEED_STRIDE = 1000


def seeds_of(own: tuple[int, ...], n: int | None) -> list[int]:
    """A scenario's seeds for this campaign: its own; with --seeds N, the first N of its
    own followed by derived ones (its largest + 1000, + 2000, ...), so runs of its own
    seeds are reused and a judge can shrink the seed-to-seed spread of short runs."""
    if n is None:
        return list(own)
    extra = [max(own) + SEED_STRIDE * k for k in range(1, n - len(own) + 1)]
    return [*own[:n], *extra]


def build_report(records: list[dict[str, Any]], meta: dict[str, Any]) -> dict[str, Any]:
    """report.json: ok runs grouped by scenario and AQM label, failed runs listed apart."""
    report: dict[str, Any] = {**meta, "scenarios": {}, "failed": []}
    for r in records:
        if r.get("status") != "ok":
            report["failed"].append(
                {
                    k: r.get(k)
                    for k in (
                        "run_id",
                        "scenario",
                        "aqm",
                        "seed",
                        "error",
                        "signal",
                        "returncode",
                        "stderr_tail",
                    )
                }  # fmt: skip
            )
            continue
        label = r.get("label", r["aqm"])
        report["scenarios"].setdefault(r["scenario"], {}).setdefault(label, []).append(r)
    labels: list[str] = []
    for by in report["scenarios"].values():
        labels += [k for k in by if k not in labels]
    report["labels"] = labels
    return report


def evaluate(args: argparse.Namespace) -> tuple[dict[str, Any], int]:
    from aqmllm.sim.campaign import DaskExecutor, LocalExecutor, RunStore, run_campaign

    out = Path(args.out)
    scenarios = load_scenarios(args.scenarios)
    jobs = jobs_for(scenarios, args.aqms, args, out, args.model)
    store = RunStore(out)
    if args.executor == "dask":
        executor: Any = DaskExecutor(args.address, args.run_timeout)
    else:
        executor = LocalExecutor(args.workers, args.run_timeout)

    def progress(stream, total):
        from tqdm import tqdm

        return tqdm(stream, total=total, desc="ns-3 runs", unit="run")

    t0 = time.time()
    try:
        records = run_campaign(jobs, store, executor, resume=args.resume, progress=progress)
    finally:
        if isinstance(executor, DaskExecutor):
            executor.close()
    meta = {
        "aqms": args.aqms,
        "model": args.model,
        "model_policy": args.model_policy,
        "latency_us": args.latency_us,
        "sweep": args.sweep,
        "executor": args.executor,
        "campaign_wall_s": round(time.time() - t0, 1),
        "generated": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    report = build_report(records, meta)
    (out / "report.json").write_text(json.dumps(report, indent=1))
    from aqmllm.sim.report import write_report

    write_report(report, out)
    return report, len(report["failed"])


def parse_args(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="aqmllm evaluate", description=__doc__.splitlines()[0])
    ap.add_argument("scenarios", nargs="+", help="scenario files or folders")
    ap.add_argument("--out", default="out/evaluate", help="output folder")
    ap.add_argument(
        "--aqm",
        action="append",
        help="AQM to run, repeatable; NAME or NAME@TARGETms for the sweepable ones"
        f" (default: {', '.join(default_aqms())}, plus student when a model exists);"
        " interval:POLICY runs DualPI2 with the interval loop writing POLICY's residuals"
        " (interval:fallback, interval:constant:c=+1,l=-1,target=-1,step=2000)",
    )
    ap.add_argument("--sweep", action="store_true", help="add every classic AQM over its target")
    ap.add_argument("--model", help="student checkpoint (default: the shipped one)")
    ap.add_argument(
        "--latency-us",
        type=positive_float,
        default=None,
        help="inference latency charged to each verdict, > 0 (default: the measured p99)",
    )
    ap.add_argument(
        "--duration", type=positive_float, help="override every scenario's duration (s)"
    )
    ap.add_argument(
        "--seeds",
        type=positive_int,
        help="seeds per scenario: its own, then derived ones (default: its own)",
    )
    ap.add_argument("--workers", type=positive_int, default=2, help="local run workers (processes)")
    ap.add_argument("--executor", choices=("local", "dask"), default="local")
    ap.add_argument("--address", help="the dask scheduler, e.g. tcp://10.0.0.5:8786")
    ap.add_argument("--resume", action="store_true", help="skip runs OUT/runs/ has as done")
    ap.add_argument(
        "--run-timeout", type=positive_float, help="seconds one run may take (default: none)"
    )
    ap.add_argument("--keep-logs", action="store_true", help="keep each run's event log")
    add_version(ap)
    return ap.parse_args(argv)


def check_args(args: argparse.Namespace) -> None:
    """Every argument checked before the first run starts."""
    from aqmllm.sim.ns3.run import DEFAULT_LATENCY_US

    if args.duration is not None and not (math.isfinite(args.duration) and args.duration > 0):
        raise ArgumentError(f"--duration {args.duration:g}: must be a positive number of seconds")
    if args.latency_us is None:
        args.latency_us = DEFAULT_LATENCY_US
    elif not (math.isfinite(args.latency_us) and args.latency_us > 0):
        raise ArgumentError(f"--latency-us {args.latency_us:g}: must be above 0")
    if args.workers < 1:
        raise ArgumentError(f"--workers {args.workers}: at least 1")
    if args.run_timeout is not None and not args.run_timeout > 0:
        raise ArgumentError(f"--run-timeout {args.run_timeout:g}: must be above 0")
    if args.executor == "dask" and not args.address:
        raise ArgumentError("--executor dask needs --address of a running dask scheduler")
    if args.address and args.executor != "dask":
        raise ArgumentError("--address is for --executor dask")
    if args.executor == "dask":
        try:
            import dask.distributed  # noqa: F401
        except ImportError:
            raise ArgumentError(
                "--executor dask needs dask.distributed: pip install 'aqmllm[cluster]'"
            ) from None
    explicit_model = args.model is not None
    if args.model is None and (SHIPPED_STUDENT / "manifest.json").exists():
        args.model = str(SHIPPED_STUDENT)
    args.aqms = plan_aqms(args.aqm, args.model, args.sweep)
    from aqmllm.sim.ns3.run import MODEL_AQMS, split_aqm

    uses_model = any(split_aqm(a)[0] in MODEL_AQMS for a in args.aqms)
    if explicit_model or uses_model:
        args.model_policy = check_model(args.model)
    else:
        args.model_policy = None
    if not uses_model:
        args.model, args.model_policy = None, None
    load_scenarios(args.scenarios)  # ScenarioError names the file and key
    check_out(Path(args.out))


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    try:
        check_args(args)
    except (ArgumentError, ScenarioError) as exc:
        print(f"aqmllm evaluate: {exc}", file=sys.stderr)
        return 2
    if args.model is None:
        print("aqmllm evaluate: no model run in this campaign", file=sys.stderr)
    try:
        report, failed = evaluate(args)
    except (ScenarioError, RuntimeError, OSError) as exc:
        print(f"aqmllm evaluate: {exc}", file=sys.stderr)
        return 2
    ok = sum(len(v) for s in report["scenarios"].values() for v in s.values())
    print(f"wrote {args.out}/report.json, report.csv, report.md and plots ({ok} runs)")
    if failed:
        print(f"aqmllm evaluate: {failed} run(s) failed; listed in {args.out}/report.md")
        for f in report["failed"]:
            print(f"  failed: {f['run_id']}: {f.get('signal') or f.get('error')}", file=sys.stderr)
        return 1
    return 0
