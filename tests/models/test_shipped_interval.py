"""The shipped interval policy (models/shipped/interval): it loads as the daemon loads it,
and its selection record and manifests say where it came from (issue 16, item 9)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from aqmllm.daemon.interval_policies import parse_spec
from aqmllm.models.checkpoint import sha256_hex
from aqmllm.sim.interval_ship import pick

SHIPPED = Path(__file__).resolve().parents[2] / "models" / "shipped" / "interval"
SELECTION = json.loads((SHIPPED / "selection.json").read_text())
SHA = re.compile(r"[0-9a-f]{64}")


def test_the_shipped_student_loads_and_passes_the_probe() -> None:
    policy = parse_spec(f"model:{SHIPPED / 'student'}")  # sealed files, load-time probe
    manifest = json.loads((SHIPPED / "student" / "manifest.json").read_text())
    assert policy.name == manifest["training"]["name"]
    assert manifest["kind"] == "interval-student" and manifest["mode"] == "interval"


def test_the_pick_follows_the_recorded_rule_over_the_ablation() -> None:
    cands = SELECTION["candidates"]
    # the ablation's rows: the loop's student, no teacher, both teachers, the fine-tuning
    assert {"loop", "no-prev", "smollm2", "smollm2-random", "no-prev+cma"} <= set(cands)
    assert SELECTION["picked"] == pick(cands, list(cands))
    for row in cands.values():
        assert set(row) >= {"path", "score", "beats_dualpi2", "regressions", "by_family"}
    assert SELECTION["validation"]["pairs"] == 30


def test_selection_never_read_a_held_out_suite() -> None:
    for folder in SELECTION["validation"]["folders"]:
        assert Path(folder).parent.name == "valid" and "scenarios" not in Path(folder).parts
        assert Path(folder).name in {"steady", "dynamics", "overload", "wide", "web-mix"}


def test_shipped_files_are_the_ones_selected_and_name_their_sources() -> None:
    got = sha256_hex((SHIPPED / "student" / "weights.safetensors").read_bytes())
    assert SELECTION["shipped"]["student_sha256"] == got
    training = json.loads((SHIPPED / "student" / "manifest.json").read_text())["training"]
    pools = training["pools"]
    assert pools and all(SHA.fullmatch(p["sha256"]) for p in pools)
    assert all(p["path"].startswith("out/loop/it") for p in pools)
    teacher = training.get("teacher")
    if teacher is None:
        assert SELECTION["shipped"]["teacher_sha256"] is None
        assert not (SHIPPED / "teacher").exists()
    else:
        data = (SHIPPED / "teacher" / "weights.safetensors").read_bytes()
        assert (
            teacher["weights_sha256"] == sha256_hex(data) == SELECTION["shipped"]["teacher_sha256"]
        )


@pytest.mark.parametrize("name", ["smollm2", "smollm2-random"])
def test_the_teachers_rows_name_their_backbones(name: str) -> None:
    path = Path(SELECTION["candidates"][name]["path"])
    assert path.name == "student" and path.parent.name == name
