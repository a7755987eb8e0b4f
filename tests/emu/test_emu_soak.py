"""The short soak: real traffic with every fault injected, checked for growth and leaks."""

from __future__ import annotations

from pathlib import Path

from aqmllm.sim.emu.soak import soak, unplanned_fallbacks


def test_short_soak_has_no_growth_leak_or_stall(emu_env: Path, tmp_path: Path) -> None:
    res = soak(18, tmp_path, fault_period=4.0, segment=9.0, progress=False)
    assert res.problems == [], res.problems
    f = res.figures
    assert f["faults"] >= 3 and {e["kind"] for e in res.faults} == {"kill9", "sigstop", "garbage"}
    assert f["router_rss_growth_kb"] < 512, f
    assert f["daemon_rss_growth_kb_max"] < 8192, f
    assert f["pool_in_use_end"] == 0 and f["conservation_gap_max"] == 0
    assert f["src_verdict"] > 0 and f["src_fallback"] > 0
    assert (tmp_path / "soak.json").exists()


def test_unplanned_fallbacks_exclude_the_injected_faults() -> None:
    ms = 1_000_000
    transitions = [
        [0, 1],  # attach
        [100 * ms, 0],  # a fault at 99 ms: planned
        [150 * ms, 1],
        [9_000 * ms, 0],  # nothing injected near: the daemon fell behind for 12 ms
        [9_012 * ms, 1],
        [20_000 * ms, 0],  # unplanned and never recovered: counted, no duration
    ]
    assert unplanned_fallbacks(transitions, [99 * ms]) == (2, 12.0)
    assert unplanned_fallbacks(transitions, [99 * ms, 8_999 * ms, 19_000 * ms]) == (0, 0.0)
    assert unplanned_fallbacks([], []) == (0, 0.0)
