"""A run worker: a process that runs campaign jobs one after another.

    python -m aqmllm.sim.run_worker FD

Reads one job (JSON) per line on stdin, runs it (ns-3 is loaded once per
process, on the first job) and answers one JSON line on file descriptor FD:
``{"run_id": ..., "result": {...}}`` or, for a Python exception inside the
run, ``{"run_id": ..., "error": "..."}``.  A crash (a signal in ns-3) ends
the process; the parent sees the pipe close and records the run as failed.
Anything ns-3 or cppyy print goes to stdout/stderr, never onto FD.

Test hook: when AQMLLM_TEST_CRASH_RUN names a job's run id, the worker
kills itself with SIGSEGV before running it (tests/sim/test_campaign.py).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
import traceback
from dataclasses import replace
from pathlib import Path
from typing import Any

CRASH_ENV = "AQMLLM_TEST_CRASH_RUN"


def run_job(job: dict[str, Any]) -> dict[str, Any]:
    """Run one campaign job in this process; the result dict as the report wants it."""
    from aqmllm.sim.ns3.run import RunSpec, run
    from aqmllm.sim.scenario import load_scenario

    sc = load_scenario(job["scenario_path"])
    if job.get("duration"):
        d = float(job["duration"])
        sc = replace(
            sc,
            duration_s=d,
            rate_changes=tuple(c for c in sc.rate_changes if c.at_s < d),
        )
    t0, c0 = time.time(), time.process_time()
    spec = RunSpec(
        sc,
        job["aqm"],
        int(job["seed"]),
        model=job.get("model"),
        latency_us=float(job["latency_us"]),
        keep_log=bool(job.get("keep_log", True)),
    )
    m = run(spec, Path(job["workdir"]))
    m.pop("experience", None)
    m["wall_s"] = round(time.time() - t0, 2)
    m["cpu_s"] = round(time.process_time() - c0, 2)  # what the run costs whatever the load
    m["run_id"] = job["run_id"]
    m["status"] = "ok"
    return m


def main(argv: list[str]) -> int:
    out = os.fdopen(int(argv[0]), "w", buffering=1)
    crash = os.environ.get(CRASH_ENV)
    for line in sys.stdin:
        if not line.strip():
            continue
        job = json.loads(line)
        if crash and job["run_id"] == crash:
            os.kill(os.getpid(), signal.SIGSEGV)
        try:
            reply: dict[str, Any] = {"run_id": job["run_id"], "result": run_job(job)}
        except Exception as exc:  # a failed run, not a dead worker
            tb = traceback.format_exc(limit=6)
            reply = {"run_id": job["run_id"], "error": f"{type(exc).__name__}: {exc}\n{tb}"}
        out.write(json.dumps(reply) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
