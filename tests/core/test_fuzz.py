"""A short run of the ASan/UBSan fuzz driver (the long one is `make fuzz`)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_daemon_written_garbage_never_escapes_bounds() -> None:
    subprocess.run(["make", "-s", "fuzz-build"], cwd=ROOT, check=True)
    for seed in (1, 2):
        res = subprocess.run(
            [str(ROOT / "build" / "fuzz_ring"), "-n", "150000", "-s", str(seed)],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert res.returncode == 0, res.stdout + res.stderr
        stats = dict(line.split(": ") for line in res.stdout.strip().splitlines())
        # The run must have exercised both the verdict path and the rejections.
        assert int(stats["records"]) > 1000
        assert int(stats["rejected_seq"]) > 0 and int(stats["rejected_index"]) > 0
        assert int(stats["dropped"]) + int(stats["marked"]) > 0
        # ... and the interval tier: records, residuals taken, clamped, refused, ended.
        assert int(stats["interval_records"]) > 1000
        for name in ("accepted", "clamped", "rejected", "ignored", "expired"):
            assert int(stats[f"residuals_{name}"]) > 0, name
