"""What the corrected loss accounting changes, on the same runs.

    python bench/bench_loss_accounting.py OUT [--aqm A ...]

OUT is an `aqmllm evaluate --keep-logs` folder.  For every (scenario, AQM)
it recomputes, from the same event logs, the figures the accounting before
issue 13 gave and the ones it gives now, means over seeds, after the
warm-up, as `name: value` lines:

* before: loss = enqueue drops / (dequeues + enqueue drops), where the
  dequeues included the packets the AQM then dropped (so drops at dequeue,
  CoDel's and DualPI2's only kind, were never loss), and the delay
  percentiles included those dropped packets' sojourns;
* now: loss = every drop / every arrival; delays of served packets only.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
from aqmllm.sim.evlog import (
    EV_DROP_DEQ,
    EV_DROP_ENQ,
    EV_DROP_TAIL,
    EV_MARKED,
    EV_SERVED,
    read_evlog,
)


def figures(rows: np.ndarray) -> dict[str, float]:
    ev = rows["event"]
    enq_drops = np.isin(ev, (EV_DROP_TAIL, EV_DROP_ENQ))
    left = np.isin(ev, (EV_SERVED, EV_MARKED, EV_DROP_DEQ))  # the old "dequeue" rows
    served = np.isin(ev, (EV_SERVED, EV_MARKED))
    out = {
        "loss_before": enq_drops.sum() / max(left.sum() + enq_drops.sum(), 1),
        "loss_now": (enq_drops.sum() + (ev == EV_DROP_DEQ).sum()) / max(len(rows), 1),
    }
    for cls, name in ((0, "c"), (1, "l")):
        mine = rows["cls"] == cls
        if (mine & served).any():
            out[f"{name}_p99_ms_before"] = (
                float(np.percentile(rows["sojourn_ns"][mine & left], 99)) / 1e6
            )
            out[f"{name}_p99_ms_now"] = (
                float(np.percentile(rows["sojourn_ns"][mine & served], 99)) / 1e6
            )
    return out


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", help="an `aqmllm evaluate --keep-logs` folder")
    ap.add_argument("--aqm", action="append", help="only these AQM labels")
    args = ap.parse_args(argv)
    report = json.loads((Path(args.out) / "report.json").read_text())
    for scen, by in report["scenarios"].items():
        for label, runs in by.items():
            if args.aqm and label not in args.aqm:
                continue
            acc: dict[str, list[float]] = defaultdict(list)
            for r in runs:
                if not r.get("log") or not Path(r["log"]).exists():
                    continue
                rows = read_evlog(r["log"]).rows
                rows = rows[rows["t_ns"] >= int(r["warmup_s"] * 1e9)]
                for k, v in figures(rows).items():
                    acc[k].append(v)
            for k, vals in acc.items():
                print(f"{scen}.{label}.{k}: {np.mean(vals):.4g}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
