"""The closed loop's students in models/closed-loop/: they load and pass the probe as the
daemon loads them, and their manifests say where they came from."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from aqmllm.daemon.interval_policies import parse_spec

ROOT = Path(__file__).resolve().parents[2]
STUDENTS = sorted((ROOT / "models" / "closed-loop").glob("it*"))


def test_there_is_one_student_per_iteration() -> None:
    assert [p.name for p in STUDENTS] == ["it1", "it2", "it3"]


@pytest.mark.parametrize("folder", STUDENTS, ids=lambda p: p.name)
def test_a_closed_loop_student_loads_and_names_its_pools(folder: Path) -> None:
    policy = parse_spec(f"model:{folder}")  # verified files, load-time probe
    k = int(folder.name.removeprefix("it"))
    assert policy.name == f"interval-iql-it{k}"
    t = json.loads((folder / "manifest.json").read_text())["training"]
    assert t["iteration"] == k and "no teacher" in t["trainer"]
    pools = t["pools"]
    assert len(pools) == 1 + 2 * (k - 1)  # iteration 1's, then each later one's two
    assert all(re.fullmatch(r"[0-9a-f]{64}", p["sha256"]) for p in pools)
    assert all(p["path"].startswith("out/loop/it") for p in pools)
    assert t["pool_episodes"] > 500 and t["pool_steps"] > 250_000
    assert t["plan"]["seed"] == k and t["iql"]["beta"] == 3.0
