"""`aqmllm scenarios`: generate training scenarios from families.

    aqmllm scenarios generate --family NAME --n N --seed S --out DIR
                              [--focus FILE] [--focus-share 0.75] [--radius 0.1]
    aqmllm scenarios families

Generated files never collide with the held-out suites (names, seeds,
folders): a collision writes nothing and says which file it met.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from aqmllm.sim.gen.family import FamilyError, family_names, load_family
from aqmllm.sim.gen.focus import load_focus
from aqmllm.sim.gen.generate import plan, write
from aqmllm.sim.gen.heldout import CollisionError
from aqmllm.sim.scenario import ScenarioError

from aqmllm.console import add_version, count, nonneg_float, positive_int


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="aqmllm scenarios", description=__doc__.split("\n")[0])
    add_version(ap)
    sub = ap.add_subparsers(dest="action", required=True)
    g = sub.add_parser("generate", help="write N scenarios of a family into DIR")
    g.add_argument("--family", required=True, help="family name or .toml file")
    g.add_argument("--n", type=positive_int, required=True, help="how many scenarios")
    g.add_argument("--seed", type=count, required=True, help="generator seed")
    g.add_argument("--out", required=True, help="output folder (never a held-out suite)")
    g.add_argument("--focus", help="JSON of previous scenarios and their gaps to DualPI2")
    g.add_argument(
        "--focus-share", type=float, default=0.75, help="share of scenarios drawn near the focus"
    )
    g.add_argument(
        "--radius", type=nonneg_float, default=0.1, help="perturbation, share of each range"
    )
    sub.add_parser("families", help="list the scenario families")
    return ap


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    if args.action == "families":
        for name in family_names():
            fam = load_family(name)
            print(f"{name:<10} {fam.scenario_keys:<8} {fam.description}")
        return 0
    try:
        family = load_family(args.family)
        focus = load_focus(args.focus, family) if args.focus else None
        t0 = time.perf_counter()
        plans = plan(
            family, args.n, args.seed, Path(args.out), focus, args.focus_share, args.radius
        )
        paths = write(plans, Path(args.out))
    except (FamilyError, CollisionError, ScenarioError, ValueError, OSError) as exc:
        print(f"aqmllm scenarios: {exc}", file=sys.stderr)
        return 2
    near = sum(1 for p in plans if p.parent)
    print(
        f"wrote {len(paths)} scenarios of family {family.name} to {args.out}"
        f" ({near} near the focus) in {time.perf_counter() - t0:.2f} s"
    )
    if family.scenario_keys == "extended":
        print("note: these use ECN codepoint strings and web flows (extended scenario keys)")
    return 0
