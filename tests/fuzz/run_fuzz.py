"""Run the libFuzzer targets and print their figures as `name: value` lines.

    run_fuzz.py --build DIR --runs N [--seed S]

N executions are shared among the targets by weight; each starts from its
corpus in tests/fuzz/corpus/<target> (new inputs go to DIR/work/<target>,
never into the tree) with its dictionary from tests/fuzz/dict/. Prints
executions, coverage (edges and features libFuzzer reports) and findings
(inputs that crashed, leaked, timed out or broke an invariant, kept in
DIR/artifacts/<target>/) per target and in total; exits 1 on any finding
or when fewer executions ran than asked.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
# Shares of the executions: the ring target costs ~40x an ioctl input.
WEIGHTS = {"ring": 0.15, "ioctl": 0.35, "sysctl": 0.15, "dnmsg": 0.35}
MAX_LEN = {"ring": 1024, "ioctl": 512, "sysctl": 1024, "dnmsg": 2048}


def run_target(build: Path, name: str, runs: int, seed: int) -> dict[str, int]:
    binary = build / f"fuzz_{name}"
    if not binary.exists():
        raise SystemExit(f"run_fuzz: {binary} is missing (make fuzz-targets)")
    work, art = build / "work" / name, build / "artifacts" / name
    shutil.rmtree(art, ignore_errors=True)
    work.mkdir(parents=True, exist_ok=True)
    art.mkdir(parents=True)
    cmd = [
        str(binary),
        f"-runs={runs}",
        f"-seed={seed}",
        f"-max_len={MAX_LEN[name]}",
        "-print_final_stats=1",
        "-timeout=10",
        "-rss_limit_mb=2048",
        f"-artifact_prefix={art}/",
    ]
    d = HERE / "dict" / f"{name}.dict"
    if d.exists():
        cmd.append(f"-dict={d}")
    cmd += [str(work), str(HERE / "corpus" / name)]
    res = subprocess.run(cmd, capture_output=True, text=True)
    log = res.stdout + res.stderr
    (build / f"fuzz_{name}.log").write_text(log)
    execs = re.search(r"stat::number_of_executed_units:\s*(\d+)", log)
    cov = re.findall(r"\bcov: (\d+) ft: (\d+)", log)
    findings = sum(1 for _ in art.iterdir())
    if res.returncode != 0 and findings == 0:
        findings = 1  # a failure that left no input behind still counts
    return {
        "executions": int(execs.group(1)) if execs else 0,
        "coverage_edges": int(cov[-1][0]) if cov else 0,
        "features": int(cov[-1][1]) if cov else 0,
        "corpus_files": sum(1 for _ in work.iterdir()),
        "findings": findings,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", type=Path, required=True)
    ap.add_argument("--runs", type=int, default=10_000_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--only", action="append", choices=sorted(WEIGHTS))
    args = ap.parse_args()
    names = args.only or list(WEIGHTS)
    total_w = sum(WEIGHTS[n] for n in names)
    totals = {"executions": 0, "findings": 0}
    for name in names:
        runs = max(1, round(args.runs * WEIGHTS[name] / total_w))
        r = run_target(args.build, name, runs, args.seed)
        for key, value in r.items():
            print(f"fuzz_{name}_{key}: {value}", flush=True)
        totals["executions"] += r["executions"]
        totals["findings"] += r["findings"]
    print(f"fuzz_executions: {totals['executions']}")
    print(f"fuzz_findings: {totals['findings']}")
    if totals["findings"]:
        print(f"run_fuzz: findings kept under {args.build / 'artifacts'}", file=sys.stderr)
        return 1
    if totals["executions"] < args.runs * 0.999:
        ran = totals["executions"]
        print(f"run_fuzz: only {ran} of {args.runs} executions ran", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
