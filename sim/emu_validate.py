"""Validation with real TCP (issue 16, item 8): an interval policy against DualPI2 in the emulator.

    python -m aqmllm.sim.emu_validate [--model models/shipped/interval/student]
        [--repeats 3] [--out out/emu-validate]

The emulator (sim/emu/run.py) runs Linux stacks through the TUN router's C
core: ``dualpi2`` is the core alone, ``interval`` is aqmllmd's interval
tier writing the model's residuals on the same DualPI2.  The matrix:
``eval-default`` as written (Cubic, ECN Reno, and DCTCP as the Prague-like
UDP sender, as this kernel has no DCTCP), ``eval-default`` with its Cubic
flow as BBR, and two RFC 7928 scenarios (8.2.3 medium congestion: eight
Reno flows; 5.3 an unresponsive UDP flow beside two Reno flows).  Latency
under load is irtt (Not-ECT and ECT(1)) every 10 ms.  Each repeat runs
every (case, AQM) once, the two AQMs back to back, so a host's slow spell
hits both; repeat k uses the scenario's k-th seed for its start jitter and
web schedule.  The table is the mean and spread over repeats, and the goal
of issue 16 on eval-default: utilisation >= DualPI2's - 1 % and C p99 below.
Real time: about 3 minutes per repeat.  Not part of ``make test``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CASES = [
    ("eval-default", "sim/scenarios/eval/default.toml", {}),
    ("eval-default, Cubic as BBR", "sim/scenarios/eval/default.toml", {"cubic": "bbr"}),
    ("rfc7928-8.2.3", "sim/scenarios/rfc7928/8.2.3-medium-congestion.toml", {}),
    ("rfc7928-5.3-with-friendly", "sim/scenarios/rfc7928/5.3-unresponsive-with-friendly.toml", {}),
]
AQMS = ("dualpi2", "interval")


def figures(m: dict[str, Any]) -> dict[str, float]:
    """What the table shows of one run (NaN where a class had no packets)."""
    nan = float("nan")
    probes = {p["codepoint"]: p for p in m.get("latency_under_load", [])}
    return {
        "util": float(m["utilisation"]),
        "c_p99": float(m.get("C", {}).get("delay_p99_ms", nan)),
        "l_p99": float(m.get("L", {}).get("delay_p99_ms", nan)),
        "rtt_p99": float(probes.get("not-ect", {}).get("p99_ms", nan)),
        "rtt_l_p99": float(probes.get("ect1", {}).get("p99_ms", nan)),
    }


def spread(values: list[float]) -> str:
    v = np.array([x for x in values if np.isfinite(x)])
    if not len(v):
        return "-"
    return f"{v.mean():.3g} ± {v.std(ddof=1):.2g}" if len(v) > 1 else f"{v[0]:.3g}"


def table(results: dict[str, dict[str, list[dict[str, float]]]]) -> list[str]:
    keys = ("util", "c_p99", "l_p99", "rtt_p99", "rtt_l_p99")
    lines = [
        "| case | aqm | runs | utilisation | C p99 ms | L p99 ms | irtt Not-ECT p99 ms"
        " | irtt ECT(1) p99 ms |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for case, by_aqm in results.items():
        for aqm, runs in by_aqm.items():
            cells = " | ".join(spread([r[k] for r in runs]) for k in keys)
            lines.append(f"| {case} | {aqm} | {len(runs)} | {cells} |")
    return lines


def goal(results: dict[str, dict[str, list[dict[str, float]]]]) -> dict[str, Any]:
    """Issue 16's emulator goal on eval-default, on the means and paired per repeat."""
    ref, pol = results["eval-default"]["dualpi2"], results["eval-default"]["interval"]
    mean = {a: {k: float(np.nanmean([r[k] for r in rs])) for k in rs[0]} for a, rs in
            (("dualpi2", ref), ("interval", pol))}  # fmt: skip
    paired = [
        p["util"] >= r["util"] - 0.01 and p["c_p99"] < r["c_p99"]
        for r, p in zip(ref, pol, strict=False)
    ]
    return {
        "utilisation_ok": mean["interval"]["util"] >= mean["dualpi2"]["util"] - 0.01,
        "c_p99_below": mean["interval"]["c_p99"] < mean["dualpi2"]["c_p99"],
        "paired_repeats_meeting_both": f"{sum(paired)}/{len(paired)}",
        "means": mean,
    }


def run(a: argparse.Namespace) -> dict[str, Any]:
    from aqmllm.sim.emu.run import emulate
    from aqmllm.sim.emu.topology import EmuError, missing_prerequisites
    from aqmllm.sim.emulate_cli import interval_model_problem
    from aqmllm.sim.scenario import load_scenario

    why = missing_prerequisites()
    if why:
        raise EmuError(f"cannot run here: {why}")
    model = str(Path(a.model).resolve())
    why = interval_model_problem(model)
    if why:
        raise EmuError(f"--model: {why}")
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict[str, list[dict[str, float]]]] = {}
    raw: list[dict[str, Any]] = []
    t0 = time.time()
    for rep in range(a.repeats):
        for case, path, sub in CASES:
            sc = load_scenario(ROOT / path)
            seed = sc.seeds[rep % len(sc.seeds)]
            for aqm in AQMS:
                print(f"repeat {rep + 1}/{a.repeats}: {case} / {aqm}", file=sys.stderr, flush=True)
                m = emulate(sc, aqm, out / "logs", None, None, 0, sub, seed, interval_model=model)
                f = figures(m)
                results.setdefault(case, {}).setdefault(aqm, []).append(f)
                raw.append({"case": case, "aqm": aqm, "repeat": rep, "seed": seed,
                            "substitute": sub, **f, "notes": m.get("notes", []),
                            # what the policy did: residuals taken, and the one in effect at the end
                            "residuals_accepted": m["ring_counters"].get("res_accepted", 0),
                            "residual_at_end": m["router"].get("residual")})  # fmt: skip
                print(
                    f"    util {f['util']:.3f}, C p99 {f['c_p99']:.1f} ms,"
                    f" L p99 {f['l_p99']:.2f} ms, irtt p99 {f['rtt_p99']:.1f} ms",
                    file=sys.stderr,
                    flush=True,
                )
    summary = {
        "model": model,
        "repeats": a.repeats,
        "wall_s": round(time.time() - t0, 1),
        "goal_eval_default": goal(results),
        "runs": raw,
    }
    (out / "emu-validate.json").write_text(json.dumps(summary, indent=1) + "\n")
    md = [f"# Real TCP through the emulator: {model}", "", *table(results), ""]
    g = summary["goal_eval_default"]
    md.append(
        f"eval-default goal (utilisation >= DualPI2's - 1 %, C p99 below DualPI2's):"
        f" utilisation {'met' if g['utilisation_ok'] else 'missed'},"
        f" C p99 {'met' if g['c_p99_below'] else 'missed'};"
        f" paired repeats meeting both: {g['paired_repeats_meeting_both']}"
    )
    (out / "emu-validate.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))
    return summary


def parse_args(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="emu_validate", description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=str(ROOT / "models" / "shipped" / "interval" / "student"))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default="out/emu-validate")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    from aqmllm.sim.emu.topology import EmuError

    a = parse_args(sys.argv[1:] if argv is None else argv)
    if a.repeats < 1:
        print("emu_validate: --repeats must be at least 1", file=sys.stderr)
        return 2
    try:
        run(a)
    except EmuError as exc:
        print(f"emu_validate: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
