"""Bad input to the aqmllm commands and aqmllm-producer: one sentence, no traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRODUCER = ROOT / "build" / "aqmllm-producer"
EVAL = str(ROOT / "sim" / "scenarios" / "eval" / "default.toml")
TRAIN = str(ROOT / "sim" / "scenarios" / "train" / "rate-drop.toml")


def _aqmllm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "aqmllm.cli", *args], capture_output=True, text=True, timeout=300
    )


@pytest.mark.parametrize(
    ("args", "why"),
    [
        (("evaluate", EVAL, "--aqm", "dualpi2", "--out", "/proc/nope/out"), "/proc/nope"),
        (("evaluate", EVAL, "--aqm", "dualpi2", "--workers", "0"), "'0' is not a positive integer"),
        (
            ("evaluate", EVAL, "--aqm", "student", "--model", "/nope"),
            "--model /nope: no such file or folder",
        ),
        (("evaluate", EVAL, "--duration", "-1"), "'-1' is not a positive number"),
        (("collect", TRAIN, "--out", "/proc/nope/pool.npz"), "/proc/nope"),
        (("collect", TRAIN, "--out", "/tmp/x.npz", "--workers", "-2"), "not a positive integer"),
        (("distill", "--pool", "p.npz", "--out", "/proc/nope"), "/proc/nope"),
        (("train", "--pool", "p.npz", "--out", "/tmp/t", "--epochs", "0"), "positive integer"),
        (("model", "check", "/nope"), "/nope: no model manifest here"),
        (("nosuchcommand",), "unknown command 'nosuchcommand'"),
    ],
)
def test_aqmllm_bad_input(args: tuple[str, ...], why: str) -> None:
    p = _aqmllm(*args)
    assert p.returncode == 2, p.stdout + p.stderr
    assert why in p.stderr and "Traceback" not in p.stderr, p.stderr


@pytest.mark.parametrize(
    ("args", "why"),
    [
        (("--ring", "/tmp/r", "--rate", "abc"), "--rate 'abc' is not a number"),
        (("--ring", "/tmp/r", "--entries", "1000"), "--entries 1000: a power of two"),
        (("--rate", "10"), "--ring PATH is required"),
        (("--ring", "/tmp/r", "--queues", "0"), "--queues 1..65536"),
        (("--ring", "/tmp/r", "--limit", "0"), "--limit must be 1..1048575"),
        (("--ring", "/tmp/r", "--export", "all"), "--export 'all' is not packets, intervals"),
        (("--ring", "/tmp/r", "--interval-us", "10"), "--interval-us is 0 or in [1000, 1000000]"),
        (("--ring", "/tmp/r", "--fallback", "red"), "unknown fallback 'red'"),
        (("--ring", "/tmp/r", "stray"), "unexpected argument 'stray'"),
    ],
)
def test_producer_bad_input(args: tuple[str, ...], why: str) -> None:
    subprocess.run(["make", "-s", "producer"], cwd=ROOT, check=True)
    p = subprocess.run([str(PRODUCER), *args], capture_output=True, text=True, timeout=30)
    assert p.returncode == 2 and why in p.stderr, p.stderr
