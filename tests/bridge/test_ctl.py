"""aqmllmctl on Linux: stats from a shm ring, argument errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aqmllm.bridge._aqmcore import ffi, lib
from aqmllm.bridge.ctl import main


@pytest.fixture
def ring(tmp_path: Path):
    path = str(tmp_path / "ring").encode()
    shm = ffi.new("struct aqm_shm *")
    assert lib.aqm_shm_create(shm, path, 64, 64, 1) == 0
    shm.ring.cnt[lib.AQMLLM_CNT_RECORDS] = 42
    shm.ring.cnt[lib.AQMLLM_CNT_REJ_SEQ] = 3
    lib.aqm_ring_export_counters(ffi.addressof(shm.ring), 1)
    yield tmp_path / "ring"
    lib.aqm_shm_destroy(shm, path, 1)


def test_stats_json_from_a_ring(ring: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["stats", "--json", "--ring", str(ring)]) == 0
    stats = json.loads(capsys.readouterr().out)
    c = stats["counters"]
    assert c["records"] == 42 and c["rej_seq"] == 3 and stats["daemon"]["state"] == "detached"


def test_stats_text(ring: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["stats", "--ring", str(ring)]) == 0
    assert "records" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["stats", "--ring", "/nonexistent/ring"], "no ring here"),
        (["pipe", "x", "config", "aqm", "llm"], "not an integer"),
        (["pipe", "1", "config", "bw", "100Mbit/s"], "missing 'aqm llm'"),
        (["pipe", "1", "config", "aqm", "codel"], "only llm"),
        (["pipe", "1", "config", "aqm", "llm", "speed", "3"], "unknown pipe option"),
        (["pipe", "1", "config", "aqm", "llm"], "needs FreeBSD"),
        (["sysctl", "show"], "only on FreeBSD"),
    ],
)
def test_errors_name_the_problem(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_dry_run_prints_the_message(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["pipe", "1", "config", "bw", "10Mbit/s", "aqm", "llm", "--dry-run"]) == 0
    assert bytes.fromhex(capsys.readouterr().out.strip())[2] == 0x80


def test_not_a_ring(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "junk").write_bytes(b"\1" * 8192)
    assert main(["stats", "--ring", str(tmp_path / "junk")]) == 2
    assert "bad magic" in capsys.readouterr().err
