"""`aqmllm distill`: distil the teacher (or the experts) into the line-rate student."""

from __future__ import annotations

import argparse
import json
import sys

from aqmllm.models.checkpoint import ModelError

from aqmllm.console import add_version, count, output_dir, positive_float, positive_int


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="aqmllm distill", description=__doc__)
    ap.add_argument("--pool", action="append", required=True, help="experience pool (.npz)")
    ap.add_argument("--out", required=True, help="output folder for the student")
    ap.add_argument("--teacher", help="teacher checkpoint; without it, learn the experts' actions")
    ap.add_argument("--hidden", default="32,32", help="hidden layer widths")
    ap.add_argument("--epochs", type=positive_int, default=20)
    ap.add_argument("--batch-size", type=positive_int, default=512)
    ap.add_argument("--lr", type=positive_float, default=2e-3)
    ap.add_argument(
        "--dagger-rounds",
        type=count,
        default=0,
        help="rounds of student-visited states labelled by the teacher",
    )
    ap.add_argument(
        "--max-states",
        type=count,
        default=0,
        help="train on at most this many pool states (0: all)",
    )
    ap.add_argument(
        "--target-return-percentile",
        type=float,
        help="condition the teacher on this percentile of the pool's returns while it labels"
        " (default: the teacher's own target)",
    )
    ap.add_argument("--name", default="student")
    ap.add_argument("--seed", type=int, default=0)
    add_version(ap)
    args = ap.parse_args(argv)
    try:
        hidden = tuple(int(h) for h in args.hidden.split(","))
    except ValueError:
        ap.error(f"--hidden {args.hidden!r}: expected comma-separated integers")
    if not hidden or min(hidden) < 1:
        ap.error("--hidden needs positive widths")
    pct = args.target_return_percentile
    if pct is not None and not 0 <= pct <= 100:
        ap.error(f"--target-return-percentile {pct}: expected 0..100")
    from aqmllm.models.distill import DistillConfig, distill

    cfg = DistillConfig(
        hidden=hidden,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        dagger_rounds=args.dagger_rounds,
        max_states=args.max_states,
        target_return_percentile=pct,
    )
    output_dir(args.out)
    try:
        metrics = distill(args.pool, args.out, args.teacher, cfg, args.name)
    except ModelError as exc:
        print(f"aqmllm distill: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(metrics, indent=2))
    return 0
