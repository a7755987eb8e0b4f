"""A model run is labelled with the policy that actually decided it."""

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


def test_a_model_that_fell_back_to_policy_off_is_not_labelled_student(tmp_path: Path) -> None:
    subprocess.run(["make", "-s", "core", "evlog"], cwd=ROOT, check=True)
    from aqmllm.sim.ns3.run import RunSpec, run

    sc = replace(load_scenario(SCENARIO_DIR / "eval" / "default.toml"), duration_s=1.0)
    broken = tmp_path / "gone"  # the daemon cannot load it: policy off, DualPI2 decides
    m = run(RunSpec(sc, "student", 1, model=str(broken), keep_log=False), tmp_path)
    assert m["daemon"]["policy"] == "off" and m["daemon"]["policy_off_records"] > 0
    assert m["label"] == "student [policy off 100%]"
    assert m["policy_used"].startswith("off, off for 100.0% of records")
    assert m["decision_sources"]["verdict"] == 0.0
    assert "log" not in m and not list(tmp_path.glob("*.evlog"))
