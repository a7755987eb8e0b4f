"""A short ns-3 scenario through our core and ns-3's own AQMs: sane numbers,
cross-checks, and the daemon in the loop."""

from __future__ import annotations

import importlib.util
import subprocess
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from aqmllm.sim.scenario import SCENARIO_DIR, load_scenario

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("ns") is None, reason="the PyPI package ns3 is not installed"
)
AQMS = ("fifo", "dualpi2", "pie", "ns3-pie", "codel", "ns3-codel")


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    subprocess.run(["make", "-s", "core"], cwd=ROOT, check=True)
    from aqmllm.sim.ns3.run import RunSpec, run

    sc = replace(load_scenario(SCENARIO_DIR / "eval" / "default.toml"), duration_s=6.0)
    work = tmp_path_factory.mktemp("ns3")
    return {aqm: run(RunSpec(sc, aqm, 1), work) for aqm in AQMS}


def test_aqms_keep_the_link_busy(results: dict[str, dict]) -> None:
    for aqm, m in results.items():
        assert m["utilisation"] > 0.75, (aqm, m["utilisation"])
        assert m["utilisation"] < 1.02, (aqm, m["utilisation"])


def test_fifo_delay_is_above_every_aqm(results: dict[str, dict]) -> None:
    fifo = results["fifo"]["overall"]["delay_p99_ms"]
    for aqm, m in results.items():
        if aqm != "fifo":
            assert m["overall"]["delay_p99_ms"] < fifo, aqm


def test_dualpi2_separates_l4s_from_classic(results: dict[str, dict]) -> None:
    m = results["dualpi2"]
    assert m["L"]["delay_p99_ms"] < 5.0
    assert m["L"]["delay_p99_ms"] < m["C"]["delay_p99_ms"]
    assert m["L"]["marks"] > 0 and m["decision_sources"]["fallback"] == 1.0


@pytest.mark.parametrize(("ours", "theirs"), [("pie", "ns3-pie"), ("codel", "ns3-codel")])
def test_our_aqms_land_close_to_ns3s(results: dict[str, dict], ours: str, theirs: str) -> None:
    a, b = results[ours], results[theirs]
    assert abs(a["utilisation"] - b["utilisation"]) < 0.08
    ratio = a["overall"]["delay_p50_ms"] / max(b["overall"]["delay_p50_ms"], 1e-3)
    assert 0.33 < ratio < 3.0, (ours, a["overall"], b["overall"])


def test_the_daemon_decides_in_the_loop(tmp_path: Path) -> None:
    from aqmllm.models.checkpoint import save_checkpoint
    from aqmllm.models.student import StudentWeights
    from aqmllm.sim.ns3.run import RunSpec, run

    w = StudentWeights.random(seed=4)
    w.layers[-1][1][:] = [8.0, -8.0, -8.0]  # a student that passes almost everything
    save_checkpoint(tmp_path / "s", "student", w.tensors(), {"student": {}})
    sc = replace(load_scenario(SCENARIO_DIR / "eval" / "default.toml"), duration_s=2.0)
    m = run(RunSpec(sc, "student", 1, model=str(tmp_path / "s")), tmp_path)
    assert m["daemon"]["verdicts"] > 1000
    assert m["decision_sources"]["verdict"] > 0.5
    assert np.isfinite(m["overall"]["delay_p99_ms"])
