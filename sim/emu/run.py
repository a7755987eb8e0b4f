"""One emulated run: a scenario's flows as real iperf3 traffic through the router.

Mapping from the scenario files (sim/scenario.py) to real stacks:

- bottleneck rate and buffer: the router's link rate and the core's limit;
- rate changes: sent to the router at their times (``rate BPS`` on stdin);
- each flow entry: its own receiver address, whose one-way delay is rtt/2
  in both directions (the router's per-host delay lines), and whose route
  carries the ``ecn`` feature when the flow asks for ECN;
- cubic / newreno: Linux cubic / reno; dctcp: Linux dctcp where the kernel
  has it (refused otherwise; Linux DCTCP sends ECT(0), so it lands in the
  Classic queue, unlike ns-3's ECT(1) DCTCP: noted in the result);
- udp: iperf3 UDP at the flow's rate with the flow's ECN codepoint (ecn);
- count: iperf3 parallel streams (-P) of one test.

AQMs: the core's fallbacks alone (dualpi2, pie, codel), or ``student`` /
``echo``: aqmllmd on the ring (shipped student, or the fallback-echo
policy) over DualPI2.  The ns-3-only baselines are refused.
"""

from __future__ import annotations

import os
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from aqmllm.sim.emu.daemon_ctl import Daemon, counters_by_name, wait_ring
from aqmllm.sim.emu.topology import FALLBACKS, EmuError, EmuTopology, Host, host_ip
from aqmllm.sim.emu.traffic import TCP_CCS, Flows, FlowSpec, Ping, available_ccs
from aqmllm.sim.evlog import EventLog, read_evlog, write_evlog
from aqmllm.sim.metrics import compute_metrics
from aqmllm.sim.scenario import Scenario

CC = {"cubic": "cubic", "newreno": "reno", "dctcp": "dctcp"}
DAEMON_AQMS = {"student": "model", "echo": "fallback-echo"}
EMU_AQMS = (*DAEMON_AQMS, *FALLBACKS)


def cc_map(substitute: dict[str, str] | None = None) -> dict[str, str]:
    """Scenario flow kind -> Linux congestion control, with explicit substitutions."""
    m = dict(CC)
    for kind, cc in (substitute or {}).items():
        if kind not in CC:
            raise EmuError(f"--substitute {kind}={cc}: {kind!r} is not a TCP flow kind")
        if cc not in TCP_CCS:
            raise EmuError(f"--substitute {kind}={cc}: unknown congestion control {cc!r}")
        m[kind] = cc
    return m


def check_emulatable(sc: Scenario, aqm: str, substitute: dict[str, str] | None = None) -> None:
    """Refuse, naming the reason, what the emulator cannot do."""
    ccs = cc_map(substitute)
    if aqm not in EMU_AQMS:
        raise EmuError(
            f"AQM {aqm!r} is not available in the emulator (the router runs the C core:"
            f" {', '.join(EMU_AQMS)}); use `aqmllm evaluate` for the ns-3 baselines"
        )
    have = available_ccs()
    for i, f in enumerate(sc.flows):
        if f.kind in ccs and ccs[f.kind] not in have:
            raise EmuError(
                f"{sc.path}: flows[{i}] kind {f.kind!r} needs the {ccs[f.kind]} congestion"
                f" control, which this kernel lacks (available: {' '.join(have)});"
                f" --substitute {f.kind}=CC runs it with another one, knowingly"
            )
        if f.kind == "udp" and f.on_ms:
            raise EmuError(
                f"{sc.path}: flows[{i}] is a bursty udp flow (on_ms/off_ms), which the"
                " emulator cannot send yet"
            )
        if f.kind != "udp" and f.init_cwnd != 10:
            raise EmuError(
                f"{sc.path}: flows[{i}] asks for init_cwnd {f.init_cwnd}; the emulator's"
                " senders keep Linux's 10"
            )
        dur = (f.stop_s if f.stop_s is not None else sc.duration_s) - f.start_s
        if dur < 1:
            raise EmuError(f"{sc.path}: flows[{i}] lasts {dur:.2f} s; iperf3 needs at least 1 s")
    if len(sc.flows) > 60:
        raise EmuError(f"{sc.path}: {len(sc.flows)} flow entries; the emulator takes 60 at most")


def flow_specs(
    sc: Scenario, duration: float, substitute: dict[str, str] | None = None
) -> tuple[list[Host], list[FlowSpec], list[str]]:
    ccs = cc_map(substitute)
    hosts, specs, kinds = [], [], []
    for i, f in enumerate(sc.flows):
        addr = host_ip(i)
        tcp_ecn = f.kind != "udp" and f.ecn_capable
        hosts.append(Host(addr, int(f.rtt_ms * 500), tcp_ecn))
        stop = min(f.stop_s if f.stop_s is not None else duration, duration)
        secs = max(1.0, stop - f.start_s)
        if f.kind == "udp":
            spec = FlowSpec(
                addr,
                5201 + i,
                secs,
                udp_mbps=f.rate_mbps * f.count,
                tos=f.ecn,  # the codepoint names are iperf3's TOS names (traffic.TOS)
                parallel=f.count,
                start_s=f.start_s,
                label=f"flows[{i}]",
            )
        else:
            spec = FlowSpec(
                addr,
                5201 + i,
                secs,
                ccs[f.kind],
                parallel=f.count,
                start_s=f.start_s,
                label=f"flows[{i}]",
            )
        specs.append(spec)
        kinds.append(f.kind)
    return hosts, specs, kinds


def _notes(kinds: list[str], ccs: dict[str, str]) -> list[str]:
    notes = [
        f"{k} flows ran as Linux {ccs[k]} (substituted)"
        for k in sorted(set(kinds))
        if k in ccs and ccs[k] != CC[k]
    ]
    if any(ccs.get(k) == "dctcp" for k in kinds):
        notes.append("Linux DCTCP sends ECT(0): it shares the Classic queue")
    return notes


def emulate(
    sc: Scenario,
    aqm: str,
    workdir: Path,
    model: str | None = None,
    duration: float | None = None,
    verdict_timeout_us: int = 0,
    substitute: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Run one scenario with one AQM on real stacks; metrics as the ns-3 runs give."""
    if duration:
        sc = replace(
            sc,
            duration_s=duration,
            rate_changes=tuple(c for c in sc.rate_changes if c.at_s < duration),
        )
    check_emulatable(sc, aqm, substitute)
    duration = sc.duration_s
    hosts, specs, kinds = flow_specs(sc, duration, substitute)
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    ring = (
        f"/dev/shm/aqmllm-emu-{os.getpid()}-{time.monotonic_ns()}" if aqm in DAEMON_AQMS else None
    )
    fallback = aqm if aqm in FALLBACKS else "dualpi2"
    daemon = None
    with EmuTopology(
        int(sc.rate_mbps * 1e6),
        hosts[0].delay_us,
        hosts,
        sc.buffer_pkts,
        fallback,
        ring,
        verdict_timeout_us=verdict_timeout_us,
        workdir=workdir,
        tcp_ecn=2,
    ) as topo:
        try:
            if ring:
                wait_ring(ring)
                daemon = Daemon(
                    ring,
                    policy=DAEMON_AQMS[aqm],
                    model=model,
                    log=workdir / f"aqmllmd-{topo.tag}.log",
                )
                daemon.wait_attached()
            flows = Flows(topo, specs)
            changes = list(sc.rate_changes)

            def pump() -> None:
                while changes and time.monotonic() >= flows.t0 + changes[0].at_s:
                    topo.set_rate(int(changes.pop(0).rate_mbps * 1e6))

            flows.start(pump)
            scen_t0_ns = int(flows.t0 * 1e9)
            ping = Ping(topo, hosts[0].addr, duration)
            while time.monotonic() < flows.t0 + duration:
                pump()
                time.sleep(0.01)
            results = flows.wait(timeout=duration + 30)
            rtts = ping.rtts_ms()
            stats = topo.stats()
        finally:
            if daemon is not None:
                daemon.terminate()
        topo.stop_router()
        router_log = read_evlog(topo.log_path)
        os.unlink(topo.log_path)
    # Router time -> scenario time (both CLOCK_MONOTONIC); the scenario's
    # window only: iperf3's set-up and tail fall outside it.
    shift = scen_t0_ns - router_log.t0_ns
    rows = router_log.rows
    rows = rows[(rows["t_ns"] >= shift) & (rows["t_ns"] <= shift + int(duration * 1e9))].copy()
    rows["t_ns"] -= shift
    events = EventLog(rows, router_log.flows, scen_t0_ns, router_log.complete)
    log = workdir / f"{sc.name}-{aqm}.evlog"
    write_evlog(log, events)
    errors = [f"{r.spec.label}: {r.error}" for r in results if r.error]
    if errors:
        raise EmuError("iperf3 failed: " + "; ".join(errors))
    by_src = {k: int(v) for k, v in stats["by_src"].items() if k != "limit"}
    m = compute_metrics(sc, events, [r.rx_bytes for r in results], kinds, by_src)
    rt = np.asarray(rtts) if rtts else np.zeros(1)
    m.update(
        {
            "scenario": sc.name,
            "aqm": aqm,
            "seed": 0,
            "engine": "emulator",
            "log": str(log),
            "ping_rtt_ms": {
                "n": len(rtts),
                "p50": float(np.percentile(rt, 50)),
                "p99": float(np.percentile(rt, 99)),
            },
            "flows": [
                {
                    "label": r.spec.label,
                    "kind": k,
                    "goodput_mbps": round(r.goodput_mbps, 3),
                    "retransmits": r.retransmits,
                    "udp_lost": r.lost_packets,
                }
                for r, k in zip(results, kinds, strict=True)
            ],
            "router": {k: v for k, v in stats.items() if k not in ("ring_counters",)},
            "ring_counters": counters_by_name(stats.get("ring_counters", [])),
            "notes": _notes(kinds, cc_map(substitute)),
        }
    )
    return m
