"""Fault injection with real TCP through the router: the daemon killed, stopped,
restarted, replaced by a garbage writer, and the ring overloaded."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from aqmllm.sim.emu.daemon_ctl import (
    Daemon,
    counters_by_name,
    garbage_verdicts,
    read_header,
    wait_ring,
)
from aqmllm.sim.emu.topology import EmuTopology, Host, host_ip
from aqmllm.sim.emu.traffic import FlowResult, Flows, FlowSpec
from host_figures import HostFigures

RATE = 20_000_000
TIMEOUT_US = 10_000
# The router notices within its 1 ms tick; allow for a loaded two-core machine.
NOTICE_MS = TIMEOUT_US / 1000 + 10


@pytest.fixture
def topo(emu_env: Path, tmp_path: Path, ring_path: str) -> Iterator[EmuTopology]:
    hosts = [Host(host_ip(0), 10_000, True), Host(host_ip(1), 10_000, False)]
    with EmuTopology(
        RATE,
        10_000,
        hosts,
        ring=ring_path,
        ring_entries=4096,
        verdict_timeout_us=TIMEOUT_US,
        workdir=tmp_path,
        tcp_ecn=2,
    ) as t:
        wait_ring(ring_path)
        yield t


def _flows(topo: EmuTopology, seconds: int = 5) -> Flows:
    f = Flows(
        topo,
        [FlowSpec(host_ip(0), 5201, seconds, "cubic"), FlowSpec(host_ip(1), 5202, seconds, "reno")],
    )
    f.start()
    return f


def _daemon(topo: EmuTopology) -> Daemon:
    d = Daemon(topo.ring or "", policy="fallback-echo", log=topo.workdir / "aqmllmd.log")
    d.wait_attached()
    return d


def _stats_once_alive(topo: EmuTopology, within_s: float = 10.0) -> dict:
    """The router's stats once it sees a live daemon, polled: liveness is a heartbeat
    fresher than the verdict timeout, so one sample on a slow host (Python starting
    late, the daemon descheduled for a few ms) can miss a daemon that is deciding.
    The last sample if it never does."""
    end = time.monotonic() + within_s
    st = topo.stats()
    while st["daemon_alive"] != 1 and time.monotonic() < end:
        time.sleep(0.2)
        st = topo.stats()
    return st


def _fell_back_after(st: dict, t_ns: int) -> float:
    for t, alive in st["alive_transitions"]:
        if t >= t_ns and alive == 0:
            return (t - t_ns) / 1e6
    raise AssertionError(f"no fallback after {t_ns}: {st['alive_transitions']}")


def _no_loss_no_stall(st: dict, results: list[FlowResult], figures: HostFigures) -> None:
    # every forward packet was sent, held, or dropped by an AQM decision
    assert st["fwd_unaccounted"] == 0 and st["lost_fwd"] == 0, st
    for r in results:
        assert not r.error, r.error
        assert r.longest_silence_s() < 1.0, (r.spec.label, r.intervals_mbps)
    total = sum(r.goodput_mbps for r in results)
    assert total > 0.3 * RATE / 1e6, results  # the link carried traffic throughout
    figures.check(total > 0.6 * RATE / 1e6, f"goodput {total:.1f} Mbit/s > 60 % of the rate")


def test_kill_9_falls_back_within_the_verdict_timeout(
    topo: EmuTopology, host_figures: HostFigures
) -> None:
    d = _daemon(topo)
    flows = _flows(topo)
    time.sleep(2.0)
    before = topo.stats()
    t_kill = d.kill9()
    d.terminate()
    results = flows.wait(timeout=30)
    st = topo.stats()
    ms = _fell_back_after(st, t_kill)
    assert ms <= NOTICE_MS, ms
    assert before["by_src"]["verdict"] > 0
    assert st["by_src"]["verdict"] - before["by_src"]["verdict"] < 400  # only queued verdicts
    rc = counters_by_name(st["ring_counters"])
    assert rc["stale_daemon"] > 0  # fallbacks counted as "heartbeat too old"
    _no_loss_no_stall(st, results, host_figures)


@pytest.mark.host_timing
def test_sigstop_for_seconds_then_the_daemon_resumes(
    topo: EmuTopology, host_figures: HostFigures
) -> None:
    d = _daemon(topo)
    try:
        flows = _flows(topo, 6)
        time.sleep(1.5)
        t_stop = d.stop()
        time.sleep(2.0)
        mid = topo.stats()
        d.cont()
        time.sleep(1.0)
        after = topo.stats()
        results = flows.wait(timeout=30)
        st = topo.stats()
    finally:
        d.terminate()
    assert _fell_back_after(mid, t_stop) <= NOTICE_MS
    assert mid["daemon_alive"] == 0 and after["daemon_alive"] == 1
    assert after["by_src"]["verdict"] > mid["by_src"]["verdict"] + 100  # deciding again
    _no_loss_no_stall(st, results, host_figures)


@pytest.mark.host_timing
def test_restart_after_kill_takes_over(topo: EmuTopology, host_figures: HostFigures) -> None:
    d = _daemon(topo)
    flows = _flows(topo)
    time.sleep(1.5)
    d.kill9()
    d.terminate()
    time.sleep(0.5)
    mid = topo.stats()
    d2 = _daemon(topo)
    try:
        assert read_header(topo.ring or "")["daemon_pid"] == d2.pid
        # The new daemon decides once it is up: poll for it rather than
        # trusting a fixed second.
        _stats_once_alive(topo)
        time.sleep(0.5)
        after = topo.stats()
        results = flows.wait(timeout=30)
        st = topo.stats()
    finally:
        d2.terminate()
    assert mid["daemon_alive"] == 0 and after["daemon_alive"] == 1
    assert after["by_src"]["verdict"] > mid["by_src"]["verdict"] + 100
    _no_loss_no_stall(st, results, host_figures)


def test_garbage_verdicts_are_rejected_and_counted(
    topo: EmuTopology, host_figures: HostFigures
) -> None:
    d = _daemon(topo)
    flows = _flows(topo)
    time.sleep(1.0)
    d.kill9()
    d.terminate()
    wrote = garbage_verdicts(topo.ring or "", 1.5, seed=7)
    d2 = _daemon(topo)  # a sane daemon takes over from the garbage
    try:
        time.sleep(1.0)
        results = flows.wait(timeout=30)
        st = _stats_once_alive(topo)
    finally:
        d2.terminate()
    rc = counters_by_name(st["ring_counters"])
    assert wrote["slots"] > 1000
    for name in ("rej_kind", "rej_action", "rej_seq", "rej_index"):
        assert rc[name] > 0, (name, rc)
    assert st["daemon_alive"] == 1
    _no_loss_no_stall(st, results, host_figures)


def test_ring_overloaded_at_twice_its_capacity(
    emu_env: Path, tmp_path: Path, ring_path: str
) -> None:
    entries = 256
    hosts = [Host(host_ip(0), 5_000, False)]
    with EmuTopology(
        RATE,
        5_000,
        hosts,
        ring=ring_path,
        ring_entries=entries,
        verdict_timeout_us=TIMEOUT_US,
        workdir=tmp_path,
    ) as topo:
        wait_ring(ring_path)
        d = _daemon(topo)
        try:
            # 10 Mbit/s of 1200-byte UDP: ~1040 packets/s against a stopped daemon
            flows = Flows(topo, [FlowSpec(host_ip(0), 5201, 4, udp_mbps=10, tos="ect1")])
            flows.start()
            time.sleep(1.0)
            before = topo.stats()
            d.stop()
            time.sleep(1.5)
            mid = topo.stats()
            d.cont()
            (res,) = flows.wait(timeout=30)
            st = topo.stats()
        finally:
            d.terminate()
    offered = mid["rx_fwd"] - before["rx_fwd"]
    rb, rm = counters_by_name(before["ring_counters"]), counters_by_name(mid["ring_counters"])
    assert offered > 2 * entries
    # every arrival made a record or an overflow; the full ring took no more
    # than it had room for (records the daemon read just before the stop included)
    recs, ovf = rm["records"] - rb["records"], rm["overflows"] - rb["overflows"]
    assert recs + ovf == offered - (mid["tail_drops"] - before["tail_drops"])
    assert ovf >= offered - entries - 64, (recs, ovf, offered)
    assert mid["daemon_alive"] == 0
    assert st["by_src"]["verdict"] > mid["by_src"]["verdict"]  # back after SIGCONT
    assert st["fwd_unaccounted"] == 0 and st["lost_fwd"] == 0
    assert not res.error and res.lost_packets == st["aqm_drops"] + st["tail_drops"]
