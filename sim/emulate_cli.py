"""`aqmllm emulate SCENARIO...`: real TCP and UDP through the emulated router.

The same scenario files, metrics and report as `aqmllm evaluate`, on real
Linux stacks: iperf3 flows in network namespaces, the C core in a TUN
router, aqmllmd on its shared-memory ring.  Needs root, /dev/net/tun and
iperf3 (`make emu-deps`); runs in real time, one run after another.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from aqmllm.bridge.layout import FALLBACKS
from aqmllm.sim.scenario import ScenarioError, load_scenarios

from aqmllm.console import add_version, count, positive_float

DEFAULT_AQMS = ["student", *FALLBACKS]


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="aqmllm emulate", description=__doc__.splitlines()[0])
    ap.add_argument("scenarios", nargs="+", help="scenario files or folders")
    ap.add_argument("--out", default="out/emulate", help="output folder")
    ap.add_argument(
        "--aqm",
        action="append",
        help="student (aqmllmd + model), echo (aqmllmd echoing DualPI2), interval (aqmllmd's"
        " interval tier: --interval-model writing residuals on DualPI2), or a fallback alone:"
        f" {', '.join(FALLBACKS)} (default: {' '.join(DEFAULT_AQMS)}; student only with a model)",
    )
    ap.add_argument("--model", help="student checkpoint (default: the shipped one)")
    ap.add_argument(
        "--interval-model",
        help="interval checkpoint for --aqm interval (default: models/shipped/interval/student)",
    )
    ap.add_argument(
        "--duration", type=positive_float, help="override every scenario's duration (s)"
    )
    ap.add_argument(
        "--verdict-timeout-us",
        type=count,
        default=0,
        help="router's verdict timeout (default 10 ms)",
    )
    ap.add_argument(
        "--substitute",
        action="append",
        default=[],
        metavar="KIND=CC",
        help="run a flow kind with another Linux congestion control (e.g. dctcp=cubic where"
        " the kernel has no DCTCP); noted in the report",
    )
    add_version(ap)
    args = ap.parse_args(argv)
    substitute = {}
    for item in args.substitute:
        kind, sep, cc = item.partition("=")
        if not sep or not kind or not cc:
            ap.error(f"--substitute {item!r}: expected KIND=CC, e.g. dctcp=cubic")
        substitute[kind] = cc
    from aqmllm.sim.emu.daemon_ctl import SHIPPED_INTERVAL, SHIPPED_STUDENT
    from aqmllm.sim.emu.run import EMU_AQMS, emulate
    from aqmllm.sim.emu.topology import EmuError, missing_prerequisites
    from aqmllm.sim.report import write_report

    model = args.model or (
        str(SHIPPED_STUDENT) if (SHIPPED_STUDENT / "manifest.json").exists() else None
    )
    aqms = args.aqm or [a for a in DEFAULT_AQMS if a != "student" or model]
    bad = [a for a in aqms if a not in EMU_AQMS]
    if bad:
        ap.error(
            f"AQM(s) {', '.join(bad)} not available in the emulator; choose from"
            f" {', '.join(EMU_AQMS)} (the ns-3 baselines run in `aqmllm evaluate`)"
        )
    if "student" in aqms and not model:
        ap.error("the student needs --model (no shipped student found)")
    if "student" in aqms and model:
        from aqmllm.sim.evaluate_cli import model_problem

        why = model_problem(model)
        if why:
            print(f"aqmllm emulate: --model: {why}", file=sys.stderr)
            return 2
    interval_model = None
    if "interval" in aqms:
        interval_model = str(Path(args.interval_model or SHIPPED_INTERVAL).resolve())
        why = interval_model_problem(interval_model)
        if why:
            print(f"aqmllm emulate: --interval-model: {why}", file=sys.stderr)
            return 2
    if args.duration is not None and args.duration < 1:
        ap.error("--duration must be at least 1 s (iperf3's minimum)")
    why = missing_prerequisites()
    if why:
        print(f"aqmllm emulate: cannot run here: {why}", file=sys.stderr)
        return 2
    out = Path(args.out)
    try:
        scenarios = load_scenarios(args.scenarios)
    except ScenarioError as exc:
        print(f"aqmllm emulate: {exc}", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    report: dict = {
        "scenarios": {},
        "aqms": aqms,
        "model": model if "student" in aqms else None,
        "interval_model": interval_model,
        "latency_us": "real (measured in the loop)",
        "engine": "emulator",
        "generated": time.strftime("%Y-%m-%d %H:%M:%S"),
        "substitute": substitute,
    }
    runs = [(sc, aqm) for sc in scenarios for aqm in aqms]
    for k, (sc, aqm) in enumerate(runs, 1):
        secs = args.duration or sc.duration_s
        print(f"[{k}/{len(runs)}] {sc.name} / {aqm}: {secs:g} s of real traffic", file=sys.stderr)
        try:
            m = emulate(
                sc, aqm, out / "logs", model, args.duration, args.verdict_timeout_us, substitute,
                interval_model=interval_model,
            )  # fmt: skip
        except EmuError as exc:
            print(f"aqmllm emulate: {exc}", file=sys.stderr)
            return 2
        report["scenarios"].setdefault(sc.name, {}).setdefault(aqm, []).append(m)
        print(
            f"    goodput {m['goodput_mbps']:.2f} Mb/s, util {m['utilisation']:.3f},"
            f" delay p99 {m['overall'].get('delay_p99_ms', float('nan')):.2f} ms",
            file=sys.stderr,
        )
    (out / "report.json").write_text(json.dumps(report, indent=2))
    write_report(report, out)
    md = out / "report.md"
    lines = md.read_text().splitlines()
    if lines and lines[0].startswith("# "):
        lines[0] = "# aqmllm evaluation (Linux emulator: real stacks, TUN router, aqmllmd)"
    lines = [
        ln.replace(
            "inference latency charged per verdict: real (measured in the loop) us",
            "inference latency: real, the daemon runs in the loop",
        )
        for ln in lines
    ]
    md.write_text("\n".join(lines + emulator_sections(report)) + "\n")
    print(f"wrote {out}/report.json, report.csv, report.md and plots ({len(runs)} runs)")
    return 0


def interval_model_problem(path: str) -> str | None:
    """Why aqmllmd's interval tier would refuse this checkpoint (its own spec parser), or None."""
    from aqmllm.daemon.interval_policies import parse_spec
    from aqmllm.daemon.policies import PolicyError

    try:
        parse_spec(f"model:{path}")
    except PolicyError as exc:
        return str(exc)
    return None


def emulator_sections(report: dict) -> list[str]:
    """What only the emulator measures: its notes, latency under load, web FCTs."""
    runs = [
        (name, aqm, m)
        for name, by_aqm in report["scenarios"].items()
        for aqm, ms in by_aqm.items()
        for m in ms
    ]
    notes = sorted({n for _, _, m in runs for n in m.get("notes", [])})
    out = ["", "## Notes", ""] + [f"- {n}" for n in notes or ["none"]]
    out += [
        "",
        "## Latency under load (probe RTT every 10 ms to flow 0's receiver, ms)",
        "",
        "| scenario | aqm | probe | n | lost | p50 | p90 | p99 | max |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, aqm, m in runs:
        for p in m.get("latency_under_load", []):
            vals = " | ".join(
                f"{p.get(k, float('nan')):.2f}" for k in ("p50_ms", "p90_ms", "p99_ms")
            )
            out.append(
                f"| {name} | {aqm} | {p['tool']} {p['codepoint']} | {p['n']} | {p['lost']} |"
                f" {vals} | {p.get('max_ms', float('nan')):.2f} |"
            )
    web = [(name, aqm, m["web_fct"]) for name, aqm, m in runs if "web_fct" in m]
    if web:
        out += [
            "",
            f"## Web flow completion times (ms; {web[0][2]['definition']})",
            "",
            "| scenario | aqm | class | size | n | failed | median | p99 |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for name, aqm, w in web:
            for klass, buckets in w["by_class"].items():
                for bucket, st in buckets.items():
                    out.append(
                        f"| {name} | {aqm} | {klass} | {bucket} | {st['n']} | {st['failed']} |"
                        f" {st.get('median_ms', float('nan')):.1f} |"
                        f" {st.get('p99_ms', float('nan')):.1f} |"
                    )
    return out
