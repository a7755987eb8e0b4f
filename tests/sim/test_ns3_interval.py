"""The interval tier in ns-3: the real interval loop on simulated time writes
residuals that reach the core; zero residuals are DualPI2, packet for packet."""

from __future__ import annotations

import importlib.util
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
from aqmllm.sim.scenario import SCENARIO_DIR, load_scenario

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("ns") is None, reason="the PyPI package ns3 is not installed"
)
AQMS = ("dualpi2", "interval:fallback", "interval:constant:target=-1")


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    subprocess.run(["make", "-s", "core"], cwd=ROOT, check=True)
    from aqmllm.models.rl.linear_interval import LinearTarget, save_policy
    from aqmllm.sim.ns3.run import RunSpec, run

    sc = replace(load_scenario(SCENARIO_DIR / "eval" / "default.toml"), duration_s=3.0)
    work = tmp_path_factory.mktemp("ns3-interval")
    zero = save_policy(LinearTarget(), work / "zero-model", {"name": "zero"}).parent
    out = {aqm: run(RunSpec(sc, aqm, 1), work) for aqm in AQMS}
    out["model:zero"] = run(RunSpec(sc, f"interval:model:{zero}", 1), work)
    return out


def test_zero_residuals_are_dualpi2_packet_for_packet(results: dict[str, dict]) -> None:
    a, b = results["dualpi2"], results["interval:fallback"]
    assert Path(a["log"]).read_bytes() == Path(b["log"]).read_bytes()
    assert a["C"] == b["C"] and a["L"] == b["L"] and a["utilisation"] == b["utilisation"]
    ivl = b["daemon"]["interval"]
    assert ivl["residuals"] > 100 and ivl["nonzero"] == 0 and ivl["late"] == 0


def test_a_zero_interval_checkpoint_runs_by_path_and_is_dualpi2(results: dict[str, dict]) -> None:
    a, b = results["dualpi2"], results["model:zero"]
    assert Path(a["log"]).read_bytes() == Path(b["log"]).read_bytes()
    ivl = b["daemon"]["interval"]
    assert ivl["policy"] == "zero" and ivl["residuals"] > 100 and ivl["nonzero"] == 0


def test_a_halved_target_reaches_the_core_and_lowers_classic_delay(
    results: dict[str, dict],
) -> None:
    m, base = results["interval:constant:target=-1"], results["dualpi2"]
    ivl = m["daemon"]["interval"]
    assert ivl["residuals"] > 100 and ivl["nonzero"] == ivl["residuals"]
    assert ivl["in_effect"]["log2_target_q8"] == -256  # the core's own record says so
    assert m["C"]["delay_p50_ms"] < 0.8 * base["C"]["delay_p50_ms"]
    assert m["utilisation"] > 0.9


def test_interval_aqm_names_are_checked() -> None:
    from aqmllm.sim.ns3.run import aqm_problem

    assert aqm_problem("interval:constant:c=+1,l=-1") is None
    assert "knobs are" in aqm_problem("interval:constant:z=1")
    assert "unknown AQM" in aqm_problem("interval-ish")
    assert "no such checkpoint" in aqm_problem("interval:model:/nonexistent/model")
