"""The FreeBSD glue's portable decisions, run on Linux (tests/kmod/c/test_glue.c):
module registration against a fake dummynet failing any step (issue 17,
findings 1 and 4), the unload gate, stale-configuration detection (finding 3),
ioctl access (finding 6), tunable writes (finding 7), llm's AQM parse, and
(tests/kmod/c/test_glue_queue.c) the queues' FIFO storage grown by need
against an allocator that fails each allocation in turn (finding 2) and
dummynet's loss and queue-size rules the scheduler applies."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_glue_decisions() -> None:
    subprocess.run(["make", "-s", str(ROOT / "build/test_glue")], cwd=ROOT, check=True)
    res = subprocess.run(
        [str(ROOT / "build/test_glue")], capture_output=True, text=True, timeout=120
    )
    assert res.returncode == 0, res.stdout + res.stderr
    passed = int(res.stdout.strip().splitlines()[-1].split()[0])
    assert passed >= 200 and " 0 failed" in res.stdout
