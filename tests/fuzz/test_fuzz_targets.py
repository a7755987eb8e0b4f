"""A short run of the libFuzzer targets (the long one is `make fuzz`), the
ring target without libFuzzer (gcc's sanitizers, random inputs and the
seed corpus), the seed corpus against the message builder, and what the
kernel-side parse makes of every message aqmllmctl builds."""

from __future__ import annotations

import glob
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from aqmllm.bridge.dnmsg import FALLBACKS, build_pipe_config
from make_corpus import DNMSG

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "build" / "fuzz"


def _libfuzzer() -> bool:
    runtime = glob.glob("/usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a")
    return shutil.which("clang") is not None and bool(runtime)


@pytest.fixture(scope="module")
def built() -> Path:
    if not _libfuzzer():
        pytest.skip("clang with libFuzzer is not installed (make system-deps installs it)")
    res = subprocess.run(["make", "-s", "fuzz-targets"], cwd=ROOT, capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    return BUILD


def test_short_run_finds_nothing_and_covers_every_target(built: Path) -> None:
    res = subprocess.run(
        [sys.executable, str(ROOT / "tests/fuzz/run_fuzz.py"), "--build", str(built)]
        + ["--runs", "60000", "--seed", "7"],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    figs = dict(line.split(": ") for line in res.stdout.strip().splitlines())
    assert int(figs["fuzz_findings"]) == 0
    assert int(figs["fuzz_executions"]) >= 60000
    for t in ("ring", "ioctl", "sysctl", "dnmsg"):
        assert int(figs[f"fuzz_{t}_executions"]) > 0
        assert int(figs[f"fuzz_{t}_coverage_edges"]) > 20


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_ring_target_without_libfuzzer_reaches_every_path() -> None:
    """What the retired random-bytes driver did, through the one ring target:
    random scripts and the seed corpus under ASan/UBSan, with a report that
    shows they reached the daemon's rejections, the verdicts, dummynet's loss
    and queue size, FIFO growth with and without memory, and the interval
    tier: records, and residuals taken, clamped, refused, ignored and ended."""
    res = subprocess.run(
        ["make", "-s", "fuzz-standalone"], cwd=ROOT, capture_output=True, text=True
    )
    assert res.returncode == 0, res.stdout + res.stderr
    binary = str(BUILD / "fuzz_ring_standalone")
    corpus = sorted(glob.glob(str(ROOT / "tests/fuzz/corpus/ring/*")))
    for args in (["-n", "20000", "-l", "4096", "-s", "1"], corpus):
        res = subprocess.run([binary, *args], capture_output=True, text=True, timeout=300)
        assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-4000:]
    stats = {k: int(v) for k, v in (line.split(": ") for line in res.stdout.splitlines())}
    assert stats["inputs"] == len(corpus)
    res = subprocess.run(
        [binary, "-n", "20000", "-l", "4096", "-s", "2"], capture_output=True, text=True
    )
    stats = {k: int(v) for k, v in (line.split(": ") for line in res.stdout.splitlines())}
    assert stats["records"] > 1000 and stats["passed"] > 1000
    assert stats["rejected_seq"] > 0 and stats["rejected_index"] > 0
    assert stats["dropped"] + stats["marked"] > 0
    assert stats["lost_plr"] > 0 and stats["refused_qsize"] > 0
    assert stats["growths"] > 1000 and stats["nomem_drops"] > 0
    assert stats["interval_records"] > 1000
    for name in ("accepted", "clamped", "rejected", "ignored", "expired"):
        assert stats[f"residuals_{name}"] > 0, name


def test_seed_corpus_is_what_the_builder_makes() -> None:
    res = subprocess.run(
        [sys.executable, str(ROOT / "tests/fuzz/make_corpus.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, res.stdout + res.stderr


@pytest.mark.parametrize("name", sorted(DNMSG))
def test_every_built_message_configures_llm_as_asked(built: Path, tmp_path: Path, name) -> None:
    cfg = DNMSG[name]
    msg = tmp_path / "msg"
    msg.write_bytes(build_pipe_config(cfg))
    res = subprocess.run([str(built / "dnmsg_check"), str(msg)], capture_output=True, text=True)
    out = dict(line.split(": ") for line in res.stdout.strip().splitlines())
    assert out["error"] == "0" and out["configs"] == "1" and out["refused"] == "0", res.stdout
    assert int(out["fallback"]) == (FALLBACKS[cfg.fallback] if cfg.fallback else 0)
    # dummynet bounds the queue (1..slot_limit 100, 50 when not given) first
    q = cfg.queue_pkts
    assert int(out["limit"]) == (50 if q < 1 else min(q, 100))
