"""Campaigns: many runs, each crash-isolated, each result on disk as it finishes.

A job is one (scenario, AQM, seed).  It runs in a run worker, a separate
OS process (sim/run_worker.py) that loads ns-3 once and runs jobs one after
another; a worker that dies (a segfault in ns-3, a kill) fails only the job
it was running, with its signal and the tail of its stderr, and a fresh
worker takes the next job.  Every outcome is written to OUT/runs/RUN_ID.json
as it arrives; `resume` skips jobs whose file says "ok".

Executors (no scheduler of our own):
  * LocalExecutor: a thread per worker slot, each driving one run worker;
  * DaskExecutor: an existing dask.distributed cluster (`--executor dask
    --address tcp://host:8786`); each task drives a run worker on the dask
    worker's machine, so a crash there, too, fails one run, not the dask
    worker.  Event logs stay where the run ran; results carry what the
    report plots.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

STDERR_TAIL = 4000  # characters of a failed run's stderr kept in its record
CPPYY_SIGNALS = {
    "segmentation violation": "SIGSEGV",
    "bus error": "SIGBUS",
    "abort": "SIGABRT",
    "illegal instruction": "SIGILL",
    "floating point exception": "SIGFPE",
}


@dataclass(frozen=True)
class Job:
    run_id: str
    scenario: str  # scenario name
    scenario_path: str
    aqm: str
    seed: int
    latency_us: float
    workdir: str
    model: str | None = None
    duration: float | None = None
    keep_log: bool = True


def run_id(scenario: str, aqm: str, seed: int) -> str:
    safe = re.sub(r"[^A-Za-z0-9_.@-]", "_", f"{scenario}--{aqm}--{seed}")
    return safe


def failure(job: Job, why: str, **extra: Any) -> dict[str, Any]:
    return {
        "run_id": job.run_id,
        "scenario": job.scenario,
        "aqm": job.aqm,
        "seed": job.seed,
        "status": "failed",
        "error": why,
        **extra,
    }


def _signal_name(returncode: int | None, stderr: str) -> str | None:
    if returncode is not None and returncode < 0:
        try:
            return signal.Signals(-returncode).name
        except ValueError:
            return f"signal {-returncode}"
    # cppyy catches fatal signals in C++, prints "*** Break *** <what>" and exits.
    m = re.search(r"\*\*\* Break \*\*\* (.+)", stderr)
    if not m:
        return None
    what = m.group(1).strip()
    return CPPYY_SIGNALS.get(what, what)


def _tail(stderr: str) -> str:
    """The end of a crashed worker's stderr, plus the ns-3 frames of a C++ backtrace."""
    frames = [ln for ln in stderr.splitlines() if re.match(r"#\d+ .*ns3::", ln)]
    seen = list(dict.fromkeys(frames))[:12]
    tail = stderr[-STDERR_TAIL:]
    return ("ns-3 frames:\n" + "\n".join(seen) + "\n---\n" + tail) if seen else tail


class RunWorker:
    """One run worker process and the pipe its answers come back on."""

    def __init__(self, env: dict[str, str] | None = None) -> None:
        self.env = env
        self.proc: subprocess.Popen[str] | None = None
        self.reply = None
        self.err_path = ""

    def _start(self) -> None:
        r, w = os.pipe()
        err = tempfile.NamedTemporaryFile("w+", prefix="aqmllm-run-", suffix=".err", delete=False)
        self.err_path = err.name
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "aqmllm.sim.run_worker", str(w)],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=err,
            text=True,
            pass_fds=(w,),
            env={**os.environ, **(self.env or {})},
        )
        err.close()
        os.close(w)
        self.reply = os.fdopen(r, "r")

    def _stderr_since(self, offset: int) -> str:
        try:
            with open(self.err_path, errors="replace") as f:
                f.seek(offset)
                return f.read()
        except OSError:
            return ""

    def run(self, job: Job, timeout_s: float | None = None) -> dict[str, Any]:
        if self.proc is None or self.proc.poll() is not None:
            self.close()
            self._start()
        assert self.proc and self.proc.stdin and self.reply
        offset = os.path.getsize(self.err_path)
        t0 = time.time()
        timer = None
        if timeout_s:
            timer = threading.Timer(timeout_s, self.proc.kill)
            timer.start()
        try:
            self.proc.stdin.write(json.dumps(asdict(job)) + "\n")
            self.proc.stdin.flush()
            line = self.reply.readline()
        except (BrokenPipeError, OSError):
            line = ""
        finally:
            if timer:
                timer.cancel()
        if line:
            answer = json.loads(line)
            if "result" in answer:
                return answer["result"]
            # A run that raised left ns-3's globals half built (the next run in this
            # process aborts assigning addresses): the next job gets a fresh worker.
            self.close()
            return failure(job, answer.get("error", "unknown error"), wall_s=time.time() - t0)
        # The worker died with the job: a crash, a kill, or the timeout.
        try:
            rc = self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        stderr = self._stderr_since(offset)
        timed_out = bool(timeout_s) and time.time() - t0 >= timeout_s
        rec = failure(
            job,
            f"timed out after {timeout_s:g} s" if timed_out else "the run's process died",
            returncode=rc,
            signal=_signal_name(rc, stderr),
            stderr_tail=_tail(stderr),
            wall_s=round(time.time() - t0, 2),
        )
        self.close()
        return rec

    def close(self) -> None:
        if self.proc is not None:
            if self.proc.poll() is None and self.proc.stdin:
                try:
                    self.proc.stdin.close()
                    self.proc.wait(timeout=10)
                except (OSError, subprocess.TimeoutExpired):
                    self.proc.kill()
                    self.proc.wait()
            self.proc = None
        if self.reply is not None:
            self.reply.close()
            self.reply = None
        if self.err_path:
            Path(self.err_path).unlink(missing_ok=True)
            self.err_path = ""


class LocalExecutor:
    """Runs jobs on this machine: `workers` run workers driven by as many threads."""

    def __init__(self, workers: int, timeout_s: float | None = None) -> None:
        self.workers = workers
        self.timeout_s = timeout_s

    def map(self, jobs: list[Job]) -> Iterator[dict[str, Any]]:
        local = threading.local()
        made: list[RunWorker] = []
        lock = threading.Lock()

        def one(job: Job) -> dict[str, Any]:
            w = getattr(local, "worker", None)
            if w is None:
                w = local.worker = RunWorker()
                with lock:
                    made.append(w)
            return w.run(job, self.timeout_s)

        try:
            with ThreadPoolExecutor(max_workers=self.workers) as pool:
                futures = [pool.submit(one, j) for j in jobs]
                for fut in as_completed(futures):
                    yield fut.result()
        finally:
            for w in made:
                w.close()


_DASK_WORKERS: dict[int, RunWorker] = {}


def _dask_task(job_dict: dict[str, Any], timeout_s: float | None) -> dict[str, Any]:
    """Runs inside a dask worker: one run worker per dask worker thread."""
    key = threading.get_ident()
    w = _DASK_WORKERS.get(key)
    if w is None:
        w = _DASK_WORKERS[key] = RunWorker()
    return w.run(Job(**job_dict), timeout_s)


class DaskExecutor:
    """Runs jobs on an existing dask.distributed cluster (pip install 'aqmllm[cluster]')."""

    def __init__(self, address: str, timeout_s: float | None = None) -> None:
        try:
            from dask.distributed import Client
        except ImportError:
            raise RuntimeError(
                "--executor dask needs dask.distributed: pip install 'aqmllm[cluster]'"
            ) from None
        self.client = Client(address, timeout="20s")
        self.timeout_s = timeout_s

    def map(self, jobs: list[Job]) -> Iterator[dict[str, Any]]:
        from dask.distributed import as_completed as dask_completed

        futures = {
            self.client.submit(
                _dask_task, asdict(j), self.timeout_s, key=f"aqmllm-{j.run_id}", pure=False
            ): j
            for j in jobs
        }
        for fut in dask_completed(futures):
            job = futures[fut]
            try:
                yield fut.result()
            except Exception as exc:  # the dask worker itself was lost
                yield failure(job, f"the cluster lost the run: {type(exc).__name__}: {exc}")

    def close(self) -> None:
        self.client.close()


class RunStore:
    """OUT/runs/RUN_ID.json, one file per job, written atomically."""

    def __init__(self, out: Path) -> None:
        self.dir = out / "runs"
        self.dir.mkdir(parents=True, exist_ok=True)

    def path(self, rid: str) -> Path:
        return self.dir / f"{rid}.json"

    def write(self, rec: dict[str, Any]) -> None:
        p = self.path(rec["run_id"])
        tmp = p.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(rec))
        os.replace(tmp, p)

    def read(self, rid: str) -> dict[str, Any] | None:
        try:
            return json.loads(self.path(rid).read_text())
        except (OSError, json.JSONDecodeError):
            return None

    def finished(self, rid: str) -> bool:
        rec = self.read(rid)
        return rec is not None and rec.get("status") == "ok"


def run_campaign(
    jobs: list[Job],
    store: RunStore,
    executor: LocalExecutor | DaskExecutor,
    resume: bool = False,
    progress: Callable[[Iterable[dict[str, Any]], int], Iterable[dict[str, Any]]] | None = None,
) -> list[dict[str, Any]]:
    """Run what is not finished; every job's record (old or new), in job order."""
    todo = [j for j in jobs if not (resume and store.finished(j.run_id))]
    stream: Iterable[dict[str, Any]] = executor.map(todo) if todo else []
    if progress is not None:
        stream = progress(stream, len(todo))
    for rec in stream:
        store.write(rec)
    out = []
    for j in jobs:
        rec = store.read(j.run_id)
        out.append(rec if rec is not None else failure(j, "no record was written"))
    return out
