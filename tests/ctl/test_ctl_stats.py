"""aqmllmctl stats: for people by default, JSON for machines, rates, liveness, refusals."""

from __future__ import annotations

import json
import os
import re
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from aqmllm.bridge import counters, layout
from aqmllm.bridge._aqmcore import ffi, lib
from aqmllm.bridge.ctl import main
from aqmllm.bridge.ctl_stats import Sample, liveness, report
from aqmllm.bridge.ring import Ring

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def ring(tmp_path: Path):
    path = str(tmp_path / "ring").encode()
    shm = ffi.new("struct aqm_shm *")
    assert lib.aqm_shm_create(shm, path, 64, 64, 1) == 0
    c = shm.ring.cnt
    c[lib.AQMLLM_CNT_RECORDS] = 1000
    c[lib.AQMLLM_CNT_SRC_VERDICT] = 700
    c[lib.AQMLLM_CNT_SRC_FALLBACK] = 300
    c[lib.AQMLLM_CNT_DROPS] = 50
    c[lib.AQMLLM_CNT_MARKS] = 150
    c[lib.AQMLLM_CNT_REJ_LATE] = 7
    c[lib.AQMLLM_CNT_GUARD_ECN] = 4
    c[lib.AQMLLM_CNT_IVL_RECORDS] = 120
    c[lib.AQMLLM_CNT_RES_ACCEPTED] = 90
    c[lib.AQMLLM_CNT_RES_CLAMP_MULT_C] = 3
    c[lib.AQMLLM_CNT_RES_CLAMP_EXPIRY] = 2
    c[lib.AQMLLM_CNT_RES_REJ_STALE] = 5
    c[lib.AQMLLM_CNT_RES_EXPIRED] = 11
    ring = ffi.addressof(shm.ring)
    assert lib.aqm_ring_set_export(ring, lib.AQMLLM_EXPORT_INTERVALS, 4_000_000) == 0
    lib.aqm_ring_export_counters(ring, 5_000_000_000)
    yield tmp_path / "ring"
    lib.aqm_shm_destroy(shm, path, 1)


def _stats(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    rc = main(["stats", *argv])
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_text_for_people(ring: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = _stats(capsys, "--ring", str(ring))
    assert rc == 0
    assert "daemon      no daemon: the fallback decides" in out
    assert re.search(r"decided by\s+verdict\s+700\s+70\.0 %", out)
    assert re.search(r"outcome\s+pass\s+800\s+80\.0 %", out)  # decided less drops and marks
    assert re.search(r"late\s+7\s+verdicts that arrived after their packet had left", out)
    assert "drops of ECN-capable packets turned into CE marks" in out
    assert "/s" not in out  # rates only with -w
    # the interval tier: export mode and interval, records, residuals and their reasons
    assert re.search(r"ring .*: ABI 2, 64 records, 64 verdict slots, \d+ interval records", out)
    assert "exports     intervals, intervals every 4 ms" in out
    assert re.search(r"intervals\s+written\s+120\b", out)
    assert re.search(r"residuals\s+accepted\s+90\b", out)
    assert re.search(r"clamped\s+5\b", out) and re.search(r"rejected\s+5\b", out)
    assert re.search(r"mult_c\s+3\s+residuals whose Classic multiplier lay outside", out)
    assert re.search(r"stale\s+5\s+residuals not newer than the last one applied", out)
    assert re.search(r"expired\s+11\b", out)


def test_json_for_machines(ring: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = _stats(capsys, "--json", "--ring", str(ring))
    doc = json.loads(out)
    assert rc == 0 and doc["abi_version"] == layout.ABI_VERSION
    assert doc["counters"]["records"] == 1000 and doc["counters"]["rej_late"] == 7
    assert doc["derived"] == {
        "decided": 1000,
        "pass": 800,
        "rejected": 7,
        "residuals_clamped": 5,
        "residuals_rejected": 5,
    }
    assert doc["export"] == {"mode": "intervals", "interval_ms": 4.0}
    assert doc["geometry"]["interval_records"] >= 64
    assert doc["counters"]["res_accepted"] == 90 and doc["counters"]["ivl_records"] == 120
    assert doc["daemon"]["state"] == "detached" and doc["daemon"]["fallback_episodes"] == 0
    assert set(doc["counters"]) == set(layout.COUNTER_NAMES)


def test_liveness_from_state_pid_and_heartbeat(ring: Path) -> None:
    r = Ring.open_shm(ring)
    try:
        r.attach()  # this process: alive, heartbeat echoed
        assert liveness(r.hdr)["summary"] == "alive and deciding"
        r.hdr["producer_clock_ns"] = int(r.hdr["heartbeat_ns"]) + 50_000_000
        r.hdr["verdict_timeout_ns"] = 10_000_000
        assert liveness(r.hdr)["summary"] == "not answering for 50.0 ms: the fallback decides"
        r.hdr["daemon_pid"] = 2**22 + 4321  # no such process
        assert liveness(r.hdr)["summary"].startswith(f"dead (pid {2**22 + 4321} is gone)")
        r.hdr["daemon_pid"] = os.getpid()
        r.heartbeat()
        r.set_policy_off(True)
        r.record_fallbacks(3, 2_500_000_000, 0)
        live = liveness(r.hdr)
        assert live["summary"] == "alive, policy off: the fallback decides"
        assert live["fallback_episodes"] == 3 and live["fallback_seconds"] == 2.5
    finally:
        r.close()


def _sample(at: float, **values: int) -> Sample:
    hdr = np.zeros((), dtype=layout.HEADER_DTYPE)
    hdr["abi_version"] = layout.ABI_VERSION
    c = {name: 0 for name in layout.COUNTER_NAMES}
    c.update(values)
    return Sample(at, hdr, c)


def test_rates_over_the_interval() -> None:
    a = _sample(10.0, records=1000, src_verdict=900, src_fallback=100, drops=10)
    b = _sample(12.0, records=5000, src_verdict=4500, src_fallback=500, drops=30)
    doc = report("r", a, b)
    assert doc["interval_s"] == 2.0
    assert doc["rates_per_s"]["records"] == 2000 and doc["rates_per_s"]["src_verdict"] == 1800
    assert doc["rates_per_s"]["pass"] == (4970 - 990) / 2


def test_w_reads_twice(ring: Path, capsys: pytest.CaptureFixture[str]) -> None:
    t0 = time.monotonic()
    rc, out, _ = _stats(capsys, "-w", "0.2", "--ring", str(ring))
    assert rc == 0 and time.monotonic() - t0 >= 0.2
    assert "over the last 0.2" in out and "/s" in out


def test_a_ring_of_another_abi_is_refused(
    ring: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blob = bytearray(ring.read_bytes())
    struct.pack_into("<I", blob, 8, layout.ABI_VERSION + 1)
    other = tmp_path / "other"
    other.write_bytes(bytes(blob))
    rc, out, err = _stats(capsys, "--ring", str(other))
    assert rc == 2 and out == ""
    assert f"ring ABI version {layout.ABI_VERSION + 1}, this build speaks" in err


@pytest.mark.parametrize(
    ("path", "why"),
    [
        ("/nonexistent/ring", "no ring here"),
        ("/dev/null", "a character device"),
        ("/tmp", "is a directory"),
        ("/etc/hostname", "too small to be a ring"),
    ],
)
def test_what_is_not_a_ring(path: str, why: str, capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, err = _stats(capsys, "--ring", path)
    assert rc == 2 and why in err and "Errno" not in err


def test_quiet_when_the_reader_goes_away(ring: Path) -> None:
    p = subprocess.Popen(
        [sys.executable, "-m", "aqmllm.bridge.ctl", "stats", "--ring", str(ring)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert p.stdout is not None and p.stderr is not None
    p.stdout.close()  # `| head` that has already gone
    err = p.stderr.read().decode()
    assert p.wait(60) == 141 and err == ""


def test_every_counter_is_explained_in_the_man_page() -> None:
    page = (ROOT / "kmod" / "man" / "aqmllmctl.8").read_text()
    section = page.split(".Ss Counters", 1)[1].split(".Sh ", 1)[0]
    documented = set(re.findall(r"^\.It Va (\w+)$", section, re.MULTILINE))
    assert documented == set(layout.COUNTER_NAMES)
    assert set(counters.COUNTERS) == set(layout.COUNTER_NAMES)  # and in the tool's table
