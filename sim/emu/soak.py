"""Soak: real traffic through router and aqmllmd for a long time, with faults.

    python -m aqmllm.sim.emu.soak --seconds 3600 [--fault-period 60] [--out DIR]

Back-to-back segments of iperf3 traffic (Cubic with ECN, Reno without, UDP
ECT(1)) cross the emulated router while, once per fault period, the daemon
is killed with SIGKILL and restarted, stopped with SIGSTOP for two seconds,
or replaced for a second by a writer of garbage verdicts.  Every second the
router's and the daemon's RSS and the router's counters are sampled.  The
result is checked (packet conservation, no buffer leak, no write errors, no
stalled flow, fallback after each kill within the verdict timeout) and
printed as ``name: value`` lines; the samples go to OUT/soak.json.  A link
idle for more than 50 ms with packets queued is reported with its time and
its cause as the router saw it: asleep past its wake-up (not run, with the
host's steal time around it) or busy in its own loop.
"""

from __future__ import annotations

import argparse
import bisect
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aqmllm.sim.emu.daemon_ctl import Daemon, counters_by_name, garbage_verdicts, wait_ring
from aqmllm.sim.emu.topology import (
    EmuError,
    EmuTopology,
    Host,
    host_ip,
    missing_prerequisites,
)
from aqmllm.sim.emu.traffic import Flows, FlowSpec

FAULTS = ("kill9", "sigstop", "garbage")


@dataclass
class SoakResult:
    seconds: float
    samples: list[dict[str, Any]] = field(default_factory=list)
    faults: list[dict[str, Any]] = field(default_factory=list)
    segments: list[dict[str, Any]] = field(default_factory=list)
    final: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    late_stats: list[float] = field(default_factory=list)  # soak t of unanswered stats requests
    figures: dict[str, float] = field(default_factory=dict)
    t0_ns: int = 0  # CLOCK_MONOTONIC at the start, the router's clock too
    # Every daemon liveness change the router reported; it keeps only its last
    # 256, fewer than an hour has, so each stats sample's are merged in here.
    transitions: dict[int, int] = field(default_factory=dict)


def conservation_gap(st: dict[str, Any]) -> int:
    """Forward packets unaccounted for: received - (sent + dropped + held + lost)."""
    return int(st["fwd_unaccounted"])


def _fallback_after(st: dict[str, Any], t_ns: int) -> float | None:
    for t, alive in st.get("alive_transitions", []):
        if t >= t_ns and alive == 0:
            return (t - t_ns) / 1e6
    return None


def host_steal_ms() -> int:
    """CPU time the hypervisor took from this machine's vCPUs since boot (ms), 0 if unknown."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()
        return int(fields[8]) * 1000 // os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0


def explain_gap(
    gap: list[int], t0_ns: int, samples: list[dict[str, Any]], max_stats_ns: int
) -> str:
    """One service gap in words: when, and where the router's time went."""
    t_ns, gap_ns, oversleep_ns, work_ns = gap
    t = (t_ns - t0_ns) / 1e9
    text = f"the link idled {gap_ns / 1e6:.1f} ms with packets queued at t = {t:.1f} s: "
    if oversleep_ns >= gap_ns / 2:
        text += (
            f"the router woke {oversleep_ns / 1e6:.1f} ms after the time it asked for"
            " (it was not run: the kernel or the hypervisor"
        )
        around = steal_around(samples, t)
        if around is not None:
            text += f"; host steal {around[0]} ms in the {around[1]:.1f} s around it"
        return text + ")"
    if work_ns >= gap_ns / 2:
        return text + (
            f"the router's own loop was busy {work_ns / 1e6:.1f} ms"
            f" (slowest stats write {max_stats_ns / 1e6:.1f} ms)"
        )
    return text + (
        f"unexplained (overslept {oversleep_ns / 1e6:.1f} ms, busy {work_ns / 1e6:.1f} ms)"
    )


STEAL_HEAVY_MS_PER_S = 200  # a second in which the hypervisor took a fifth of a CPU or more


def steal_around(samples: list[dict[str, Any]], t: float) -> tuple[int, float] | None:
    """Host steal (ms) and the span (s) of the sampling interval that holds soak time t."""
    i = bisect.bisect_right([s["t"] for s in samples], t)
    if not 0 < i < len(samples):
        return None
    before, after = samples[i - 1], samples[i]
    return after["steal_ms"] - before["steal_ms"], after["t"] - before["t"]


def steal_rate_around(samples: list[dict[str, Any]], t: float) -> float | None:
    """Host steal (ms per second) in the sampling interval that holds soak time t."""
    around = steal_around(samples, t)
    return around[0] / around[1] if around is not None and around[1] > 0 else None


def in_heavy_steal(samples: list[dict[str, Any]], times_s: list[float]) -> int:
    """How many of these soak times fall in a second of heavy host steal."""
    rates = [steal_rate_around(samples, t) for t in times_s]
    return sum(1 for r in rates if r is not None and r >= STEAL_HEAVY_MS_PER_S)


def _unplanned(t: int, alive: int, fault_ns: list[int], window_ns: int) -> bool:
    """A loss of the daemon (alive 0) that no injected fault explains."""
    return alive == 0 and not any(0 <= t - f <= window_ns for f in fault_ns)


def unplanned_fallback_times(
    transitions: list[list[int]], fault_ns: list[int], window_ns: int = 5_000_000_000
) -> list[int]:
    """When (router ns) the daemon was lost outside a fault window."""
    return [t for t, alive in transitions if _unplanned(t, alive, fault_ns, window_ns)]


def unplanned_fallbacks(
    transitions: list[list[int]], fault_ns: list[int], window_ns: int = 5_000_000_000
) -> tuple[int, float]:
    """Times the router lost the daemon outside a fault window, and for how long in all (ms).

    Such a loss is a heartbeat older than the verdict timeout: the daemon was
    descheduled or slow, and the fallback decided meanwhile.
    """
    count, lost_ns = 0, 0
    nexts = [*transitions[1:], None][: len(transitions)]
    for (t, alive), nxt in zip(transitions, nexts, strict=True):
        if not _unplanned(t, alive, fault_ns, window_ns):
            continue
        count += 1
        if nxt is not None:
            lost_ns += nxt[0] - t
    return count, round(lost_ns / 1e6, 1)


def soak(
    seconds: float,
    out: Path,
    fault_period: float = 60.0,
    segment: float = 30.0,
    rate_mbps: float = 20.0,
    verdict_timeout_us: int = 10_000,
    progress: bool = True,
) -> SoakResult:
    out.mkdir(parents=True, exist_ok=True)
    res = SoakResult(seconds)
    ring = f"/dev/shm/aqmllm-soak-{os.getpid()}"
    hosts = [
        Host(host_ip(0), 10_000, True),
        Host(host_ip(1), 20_000, False),
        Host(host_ip(2), 10_000, False),
    ]
    say = (lambda s: print(s, file=sys.stderr, flush=True)) if progress else (lambda s: None)
    with EmuTopology(
        int(rate_mbps * 1e6),
        10_000,
        hosts,
        1000,
        "dualpi2",
        ring,
        ring_entries=4096,
        verdict_timeout_us=verdict_timeout_us,
        workdir=out,
        log=False,
        tcp_ecn=2,
    ) as topo:
        wait_ring(ring)
        daemon = Daemon(ring, log=out / "aqmllmd.log")
        daemon.wait_attached()
        daemon_started = time.monotonic()
        daemon_rss: list[tuple[float, int]] = []  # (age s, kB) of the current daemon
        daemon_growth: list[int] = []
        t_start = time.monotonic()
        res.t0_ns = time.monotonic_ns()
        steal0 = host_steal_ms()
        next_fault = t_start + fault_period
        k = 0
        seg_no = 0

        def sample() -> None:
            try:
                st = topo.stats()
            except EmuError:
                # A router that is alive but slow to answer is a finding, not the end of the soak.
                if topo.router is None or topo.router.poll() is not None:
                    raise
                res.late_stats.append(round(time.monotonic() - t_start, 1))
                say(f"soak: t={res.late_stats[-1]:.0f}s the router did not answer a stats request")
                return
            res.transitions.update((int(t), int(a)) for t, a in st["alive_transitions"])
            age = time.monotonic() - daemon_started
            drss = daemon.rss_kb()
            if drss > 0:
                daemon_rss.append((age, drss))
            res.samples.append(
                {
                    "t": round(time.monotonic() - t_start, 2),
                    "router_rss_kb": st["rss_kb"],
                    "daemon_rss_kb": drss,
                    "daemon_pid": daemon.pid,
                    "pool_in_use": st["pool_in_use"],
                    "tx_fwd": st["tx_fwd"],
                    "conservation_gap": conservation_gap(st),
                    "write_errors": st["write_errors"],
                    "alive": st["daemon_alive"],
                    "steal_ms": host_steal_ms() - steal0,
                }
            )

        def close_daemon_window() -> None:
            warm = [r for a, r in daemon_rss if a >= 5.0]
            if len(warm) >= 2:
                daemon_growth.append(warm[-1] - warm[0])
            daemon_rss.clear()

        while time.monotonic() - t_start < seconds:
            seg_no += 1
            secs = float(round(max(2.0, min(segment, seconds - (time.monotonic() - t_start)))))
            specs = [
                FlowSpec(host_ip(0), 5201, secs, "cubic", label="cubic-ecn"),
                FlowSpec(host_ip(1), 5202, secs, "reno", label="reno"),
                FlowSpec(host_ip(2), 5203, secs, udp_mbps=2, tos="ect1", label="udp-ect1"),
            ]
            flows = Flows(topo, specs)
            flows.start()
            seg_end = flows.t0 + secs
            last_sample = 0.0
            while time.monotonic() < seg_end:
                now = time.monotonic()
                if now - last_sample >= 1.0:
                    last_sample = now
                    sample()
                if now >= next_fault and seg_end - now > 4.0:
                    kind = FAULTS[k % len(FAULTS)]
                    k += 1
                    next_fault = now + fault_period
                    ev: dict[str, Any] = {"kind": kind, "t": round(now - t_start, 2)}
                    if kind == "sigstop":
                        t_ns = daemon.stop()
                        ev["t_ns"] = t_ns
                        time.sleep(2.0)
                        daemon.cont()
                        time.sleep(0.3)
                        st = topo.stats()
                        ev["fallback_ms"] = _fallback_after(st, t_ns)
                        ev["alive_again"] = bool(st["daemon_alive"])
                    else:
                        t_ns = daemon.kill9()
                        ev["t_ns"] = t_ns
                        daemon.terminate()
                        close_daemon_window()
                        time.sleep(0.5)
                        st = topo.stats()
                        ev["fallback_ms"] = _fallback_after(st, t_ns)
                        if kind == "garbage":
                            # a broken "daemon" in its place, then a sane one
                            ev["garbage"] = garbage_verdicts(ring, 1.0, seed=k)
                        daemon = Daemon(ring, log=out / "aqmllmd.log")
                        daemon.wait_attached()
                        daemon_started = time.monotonic()
                    res.faults.append(ev)
                    say(
                        f"soak: t={ev['t']:.0f}s fault {kind}: fallback after"
                        f" {ev.get('fallback_ms')} ms"
                    )
                time.sleep(0.05)
            results = flows.wait(timeout=secs + 30)
            segd = {"segment": seg_no, "seconds": secs}
            for r in results:
                segd[r.spec.label] = {
                    "goodput_mbps": round(r.goodput_mbps, 3),
                    "min_interval_mbps": round(min(r.intervals_mbps or [0.0]), 3),
                    "longest_silence_s": r.longest_silence_s(),
                    "error": r.error,
                }
            res.segments.append(segd)
            say(
                f"soak: segment {seg_no} done at t={time.monotonic() - t_start:.0f}s: "
                + ", ".join(f"{r.spec.label} {r.goodput_mbps:.2f} Mb/s" for r in results)
            )
        close_daemon_window()
        time.sleep(0.5)  # everything in flight drains
        res.final = topo.stats()
        daemon.terminate()
    _judge(res, daemon_growth, verdict_timeout_us)
    (out / "soak.json").write_text(json.dumps(res.__dict__, indent=1, default=str))
    return res


def _judge(res: SoakResult, daemon_growth: list[int], verdict_timeout_us: int) -> None:
    st = res.final
    f = res.figures
    warm = [s for s in res.samples if s["t"] >= min(10.0, res.seconds / 3)]
    if len(warm) >= 2:
        f["router_rss_growth_kb"] = warm[-1]["router_rss_kb"] - warm[0]["router_rss_kb"]
        span_h = max((warm[-1]["t"] - warm[0]["t"]) / 3600, 1e-9)
        f["router_rss_growth_kb_per_h"] = round(f["router_rss_growth_kb"] / span_h, 1)
    f["router_rss_kb"] = st["rss_kb"]
    f["daemon_rss_growth_kb_max"] = max(daemon_growth) if daemon_growth else 0
    f["daemon_instances"] = 1 + sum(1 for e in res.faults if e["kind"] != "sigstop")
    f["faults"] = len(res.faults)
    f["pool_in_use_end"] = st["pool_in_use"]
    f["pool_max_in_use"] = st["pool_max_in_use"]
    f["tx_fwd_packets"] = st["tx_fwd"]
    f["conservation_gap_max"] = max(abs(s["conservation_gap"]) for s in res.samples)
    f["write_errors"] = st["write_errors"]
    f["pool_drops"] = st["pool_drops"]
    rc = counters_by_name(st["ring_counters"])
    f["ring_overflows"] = rc["overflows"]
    f["ring_rejections"] = sum(v for n, v in rc.items() if n.startswith("rej_"))
    f["src_verdict"] = rc["src_verdict"]
    f["src_fallback"] = rc["src_fallback"]
    fb = [e["fallback_ms"] for e in res.faults if e.get("fallback_ms") is not None]
    if fb:
        f["fallback_ms_max"] = round(max(fb), 3)
    mins = [
        v["min_interval_mbps"]
        for s in res.segments
        for k, v in s.items()
        if isinstance(v, dict) and k != "udp-ect1"
    ]
    f["tcp_min_interval_mbps"] = min(mins) if mins else 0.0
    f["longest_silence_s"] = max(
        (v["longest_silence_s"] for s in res.segments for v in s.values() if isinstance(v, dict)),
        default=0.0,
    )
    f["max_service_gap_ms"] = round(st["max_service_gap_ns"] / 1e6, 3)
    f["service_gaps_over_10ms"] = st["service_gaps_total"]
    f["max_stats_write_ms"] = round(st["max_stats_write_ns"] / 1e6, 3)
    if res.samples:
        f["host_steal_ms"] = res.samples[-1]["steal_ms"]
    fault_ns = [e["t_ns"] for e in res.faults if "t_ns" in e]
    res.transitions.update((int(t), int(a)) for t, a in st.get("alive_transitions", []))
    transitions = [[t, a] for t, a in sorted(res.transitions.items())]
    f["daemon_liveness_changes"] = len(transitions)
    f["unplanned_fallbacks"], f["unplanned_fallback_ms"] = unplanned_fallbacks(
        transitions, fault_ns
    )
    # Were they the VM losing its CPUs?  Compare with the share of such seconds.
    lost_s = [(t - res.t0_ns) / 1e9 for t in unplanned_fallback_times(transitions, fault_ns)]
    f["unplanned_fallbacks_in_heavy_steal"] = in_heavy_steal(res.samples, lost_s)
    pairs = list(zip(res.samples, res.samples[1:], strict=False))
    heavy = [
        (b["steal_ms"] - a["steal_ms"]) >= STEAL_HEAVY_MS_PER_S * (b["t"] - a["t"])
        for a, b in pairs
        if b["t"] > a["t"]
    ]
    if heavy:
        f["seconds_in_heavy_steal_share"] = round(sum(heavy) / len(heavy), 3)
    f["stats_requests_unanswered"] = len(res.late_stats)
    p = res.problems
    if res.late_stats:
        p.append(
            "the router left a stats request unanswered for 5 s at t = "
            + ", ".join(f"{t:.0f}" for t in res.late_stats)
            + " s"
        )
    if f["conservation_gap_max"] != 0:
        p.append(f"packets unaccounted for: gap up to {f['conservation_gap_max']}")
    if st["lost_fwd"] or st["write_errors"] or st["pool_drops"] or st["bad_pkts"]:
        p.append(
            f"losses outside the AQM: write_errors {st['write_errors']}, pool_drops"
            f" {st['pool_drops']}, bad_pkts {st['bad_pkts']}"
        )
    if st["pool_in_use"] > 8:
        p.append(f"{st['pool_in_use']} packet buffers still in use after the traffic stopped")
    for e in res.faults:
        limit_ms = verdict_timeout_us / 1000 + 5
        if e.get("fallback_ms") is None:
            p.append(f"fault {e['kind']} at {e['t']} s: the router never fell back")
        elif e["fallback_ms"] > limit_ms:
            p.append(f"fault {e['kind']} at {e['t']} s: fallback after {e['fallback_ms']} ms")
        if e["kind"] == "sigstop" and not e.get("alive_again"):
            p.append(f"SIGSTOP at {e['t']} s: the daemon did not come back after SIGCONT")
    for s in res.segments:
        for k, v in s.items():
            if isinstance(v, dict) and v["error"]:
                p.append(f"segment {s['segment']} {k}: {v['error']}")
            elif isinstance(v, dict) and v["longest_silence_s"] >= 1.0:
                p.append(
                    f"segment {s['segment']} {k}: stalled ({v['longest_silence_s']} s without data)"
                )
    long_gaps = sorted(g for g in st["service_gaps"] if g[1] > 50_000_000)
    for g in long_gaps:
        p.append(explain_gap(g, res.t0_ns, res.samples, st["max_stats_write_ns"]))
    if st["max_service_gap_ns"] > 50_000_000 and not long_gaps:
        p.append(f"the link idled {st['max_service_gap_ns'] / 1e6:.1f} ms with packets queued")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="aqmllm-soak", description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=3600)
    ap.add_argument("--fault-period", type=float, default=60)
    ap.add_argument("--segment", type=float, default=30)
    ap.add_argument("--out", default="out/soak")
    args = ap.parse_args(argv)
    if args.seconds < 10:
        ap.error("--seconds must be at least 10")
    why = missing_prerequisites()
    if why:
        print(f"soak: cannot run here: {why}", file=sys.stderr)
        return 2
    res = soak(args.seconds, Path(args.out), args.fault_period, args.segment)
    for name, value in res.figures.items():
        print(f"soak_{name}: {value}")
    for prob in res.problems:
        print(f"soak_problem: {prob}")
    print(f"soak_ok: {int(not res.problems)}")
    return 0 if not res.problems else 1


if __name__ == "__main__":
    sys.exit(main())
