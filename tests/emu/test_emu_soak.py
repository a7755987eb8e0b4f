"""The short soak: real traffic with every fault injected, checked for growth and leaks."""

from __future__ import annotations

from pathlib import Path

from aqmllm.sim.emu.soak import explain_gap, in_heavy_steal, soak, unplanned_fallbacks


def test_short_soak_has_no_growth_leak_or_stall(emu_env: Path, tmp_path: Path) -> None:
    res = soak(18, tmp_path, fault_period=4.0, segment=9.0, progress=False)
    assert res.problems == [], res.problems
    f = res.figures
    assert f["faults"] >= 3 and {e["kind"] for e in res.faults} == {"kill9", "sigstop", "garbage"}
    assert f["router_rss_growth_kb"] < 512, f
    assert f["daemon_rss_growth_kb_max"] < 8192, f
    assert f["pool_in_use_end"] == 0 and f["conservation_gap_max"] == 0
    assert f["src_verdict"] > 0 and f["src_fallback"] > 0
    # each fault took the daemon away and brought one back
    assert f["daemon_liveness_changes"] >= 2 * f["faults"], f
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


def test_a_long_gap_is_explained_by_where_the_router_spent_its_time() -> None:
    ms = 1_000_000
    t0 = 5_000 * ms
    samples = [{"t": 9.5, "steal_ms": 100}, {"t": 10.5, "steal_ms": 160}]
    slept = explain_gap([t0 + 10_000 * ms, 60 * ms, 58 * ms, 1 * ms], t0, samples, 3 * ms)
    assert slept.startswith("the link idled 60.0 ms with packets queued at t = 10.0 s")
    assert "woke 58.0 ms after the time it asked for" in slept
    assert "host steal 60 ms in the 1.0 s around it" in slept
    busy = explain_gap([t0 + 10_000 * ms, 60 * ms, 1 * ms, 55 * ms], t0, samples, 54 * ms)
    assert "own loop was busy 55.0 ms (slowest stats write 54.0 ms)" in busy
    neither = explain_gap([t0, 60 * ms, 20 * ms, 20 * ms], t0, samples, 0)
    assert "unexplained (overslept 20.0 ms, busy 20.0 ms)" in neither


def test_heavy_steal_is_counted_per_sampled_second() -> None:
    samples = [
        {"t": 0.0, "steal_ms": 0},
        {"t": 1.0, "steal_ms": 20},  # 20 ms/s: an ordinary second
        {"t": 2.0, "steal_ms": 420},  # 400 ms/s: the hypervisor took the CPUs
        {"t": 4.0, "steal_ms": 820},  # 200 ms/s over two seconds: heavy too
    ]
    assert in_heavy_steal(samples, [0.5, 1.5, 3.9]) == 2
    assert in_heavy_steal(samples, [0.5, 4.0, 9.0, -1.0]) == 0  # outside the samples
