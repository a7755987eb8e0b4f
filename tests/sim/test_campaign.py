"""Campaigns: a run that crashes fails alone, results land as they finish,
--resume reruns only what is not done, on a local process pool or a dask cluster."""

from __future__ import annotations

import importlib.util
import json
import subprocess
from pathlib import Path

import pytest
from aqmllm.sim.evaluate_cli import main as evaluate_main

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("ns") is None, reason="the PyPI package ns3 is not installed"
)

TINY = """name = "tiny"
duration_s = 1.5
seeds = [1]
[bottleneck]
rate_mbps = 10
buffer_pkts = 100
[[flows]]
kind = "cubic"
rtt_ms = 20
[[flows]]
kind = "web"
arrivals_per_s = 8
size_dist = "pareto"
mean_kb = 20
rtt_ms = 20
"""
# ns-3 3.44 crashed here before the fix (PersistTimeout on a listener that got
# a RST before any SYN): a UDP burst fills a 2-packet FIFO and drops the TCP
# flow's SYN; the flow stops before its SYN is retried. The crash came 6 s later.
SYN_LOST = """name = "syn-lost"
duration_s = 7
seeds = [1]
[bottleneck]
rate_mbps = 10
buffer_pkts = 2
[[flows]]
kind = "udp"
rate_mbps = 200
start_s = 0.0
stop_s = 0.04
[[flows]]
kind = "cubic"
start_s = 0.02
stop_s = 0.05
"""


@pytest.fixture(scope="module")
def scenarios(tmp_path_factory: pytest.TempPathFactory) -> Path:
    subprocess.run(["make", "-s", "core", "evlog"], cwd=ROOT, check=True)
    d = tmp_path_factory.mktemp("scen")
    (d / "tiny.toml").write_text(TINY)
    (d / "syn-lost.toml").write_text(SYN_LOST)
    return d


def _records(out: Path) -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text()) for p in (out / "runs").glob("*.json")}


def test_a_crashed_run_is_listed_failed_and_the_campaign_finishes(
    scenarios: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    args = [str(scenarios), "--aqm", "fifo", "--aqm", "dualpi2", "--out", str(out)]
    monkeypatch.setenv("AQMLLM_TEST_CRASH_RUN", "tiny--dualpi2--1")
    assert evaluate_main([*args, "--workers", "2"]) == 1
    recs = _records(out)
    assert set(recs) == {f"{s}--{a}--1" for s in ("tiny", "syn-lost") for a in ("fifo", "dualpi2")}
    crashed = recs.pop("tiny--dualpi2--1")
    assert crashed["status"] == "failed" and crashed["signal"] == "SIGSEGV", crashed
    assert crashed["returncode"] != 0
    assert all(r["status"] == "ok" for r in recs.values()), recs
    # ns-3 runs the scenario that used to crash it, to its end
    assert recs["syn-lost--fifo--1"]["utilisation"] > 0
    report = json.loads((out / "report.json").read_text())
    assert [f["run_id"] for f in report["failed"]] == ["tiny--dualpi2--1"]
    assert "dualpi2" in report["scenarios"]["syn-lost"]
    assert "dualpi2" not in report["scenarios"]["tiny"]
    md = (out / "report.md").read_text()
    assert "## Failed runs: 1 (excluded from every table and plot)" in md
    assert "| tiny--dualpi2--1 | the run's process died | SIGSEGV |" in md
    # Web transfers opened, completed and were timed.
    tiny = recs["tiny--fifo--1"]
    assert tiny["transfers"]["done"] > 3 and "fct" in tiny
    # --resume, on a dask cluster: only the failed run runs again (in a run
    # worker of the dask worker); the others' records stay as they were.
    from dask.distributed import LocalCluster

    before = {k: (out / "runs" / f"{k}.json").stat().st_mtime_ns for k in recs}
    monkeypatch.delenv("AQMLLM_TEST_CRASH_RUN")
    with LocalCluster(
        n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        dask = ["--executor", "dask", "--address", cluster.scheduler_address]
        assert evaluate_main([*args, *dask, "--resume"]) == 0
    after = _records(out)
    assert after["tiny--dualpi2--1"]["status"] == "ok"
    assert after["tiny--dualpi2--1"]["utilisation"] > 0.3
    assert {k: (out / "runs" / f"{k}.json").stat().st_mtime_ns for k in recs} == before
    report = json.loads((out / "report.json").read_text())
    assert not report["failed"] and report["executor"] == "dask"


def test_a_run_that_raised_does_not_poison_the_next_run_in_its_worker(
    scenarios: Path, tmp_path: Path
) -> None:
    """A run that raises after ns-3 built its topology (here: its event log cannot be
    written) fails alone; the next job, once aborted in the same process by ns-3's
    leftover address allocator, runs in a fresh worker."""
    from aqmllm.sim.campaign import Job, LocalExecutor, RunStore, run_campaign

    logs = tmp_path / "logs"
    (logs / "tiny-fifo-1.evlog").mkdir(parents=True)  # a folder where the log should go
    tiny = str(scenarios / "tiny.toml")
    jobs = [
        Job(f"tiny--{aqm}--1", "tiny", tiny, aqm, 1, 140.0, str(logs), keep_log=False)
        for aqm in ("fifo", "dualpi2")
    ]
    recs = run_campaign(jobs, RunStore(tmp_path / "out"), LocalExecutor(1), resume=False)
    assert recs[0]["status"] == "failed" and "event log" in recs[0]["error"], recs[0]
    assert recs[1]["status"] == "ok" and recs[1]["utilisation"] > 0.3, recs[1]
