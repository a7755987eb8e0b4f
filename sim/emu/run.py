"""One emulated run: a scenario's flows as real traffic through the router.

Mapping from the scenario files (sim/scenario.py) to real stacks:

- bottleneck rate and buffer: the router's link rate and the core's limit;
- rate changes: sent to the router at their times (``rate BPS`` on stdin);
- each flow entry: its own receiver address, whose one-way delay is rtt/2
  in both directions (the router's per-host delay lines), and whose route
  carries the ``ecn`` feature when the flow asks for ECN (ECT(1) for TCP by
  a rewrite on the way out: :class:`aqmllm.sim.emu.topology.Host`);
- cubic / newreno: Linux cubic / reno (iperf3);
- dctcp / prague: the Prague-like scalable sender over UDP
  (sim/emu/prague_send.c; ECT(1), AccECN-like feedback, alpha/2 cuts), as
  this kernel has no DCTCP or TCP Prague and Linux DCTCP would send ECT(0)
  into the Classic queue; ``--substitute dctcp=cubic`` runs a Linux TCP
  instead, knowingly;
- udp: iperf3 UDP at the flow's rate with the flow's ECN codepoint (ecn);
  bursty UDP (on_ms/off_ms) and initial windows other than Linux's 10 are
  refused;
- count: iperf3 parallel streams (-P) of one test; Prague: that many senders;
- web (``kind = "web"``): each of the entry's ``count`` sources sends the
  transfers sim/web.py plans for the run's seed (the ns-3 runs' schedule),
  each on its own connection from the web client (sim/emu/web_client.c),
  with Linux cubic / reno (dctcp where the kernel has it); flow completion
  times from the scheduled start to the server's read of the last byte;
- latency under load: irtt probes (Not-ECT and ECT(1)) to flow 0's
  receiver every 10 ms, or ping where irtt is missing.

AQMs: the core's fallbacks alone (dualpi2, pie, codel), or ``student`` /
``echo``: aqmllmd on the ring (shipped student, or the fallback-echo
policy) over DualPI2, or ``interval``: aqmllmd's interval tier (an
interval checkpoint, by default the shipped one) writing residuals on
DualPI2 from the ring's interval records, no per-packet verdicts.  The
ns-3-only baselines are refused.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from aqmllm.sim.emu.daemon_ctl import Daemon, counters_by_name, wait_ring
from aqmllm.sim.emu.latency import LatencyProbe, have_irtt
from aqmllm.sim.emu.prague import PragueResult, PragueSpec
from aqmllm.sim.emu.prague import missing_binaries as prague_missing
from aqmllm.sim.emu.topology import (
    FALLBACKS,
    EmuError,
    EmuTopology,
    Host,
    ecn_codepoint,
    host_ip,
)
from aqmllm.sim.emu.traffic import TCP_CCS, FlowResult, Flows, FlowSpec, available_ccs
from aqmllm.sim.emu.webtraffic import WebLoad, WebSource, fct_summary
from aqmllm.sim.evlog import EventLog, read_evlog, write_evlog
from aqmllm.sim.metrics import compute_metrics
from aqmllm.sim.scenario import Flow, Scenario
from aqmllm.sim.web import web_transfers

# Scenario flow kind -> how it runs: a Linux congestion control (iperf3), or
# PRAGUE, the Prague-like UDP sender.
PRAGUE = "prague-udp"
CC = {"cubic": "cubic", "newreno": "reno", "dctcp": PRAGUE, "prague": PRAGUE}
# A web flow's transfers: its cc as a Linux congestion control (the web client's).
WEB_CC = {"cubic": "cubic", "newreno": "reno", "dctcp": "dctcp"}
DAEMON_AQMS = {"student": "model", "echo": "fallback-echo", "interval": "pass"}
EMU_AQMS = (*DAEMON_AQMS, *FALLBACKS)
PRAGUE_NOTE = (
    "L4S flows ({kinds}) ran as the Prague-like UDP sender (build/aqmllm-prague-send: ECT(1),"
    " AccECN-like CE feedback, alpha/2 cuts once per round, RTT-independent additive"
    " increase, paced), as this kernel has no DCTCP or TCP Prague"
)


def interval_daemon_settings(model: str | None) -> list[str]:
    """aqmllmd as the interval tier alone: the model writes residuals every interval."""
    return [
        "--set", "inference.mode=interval", "--set", "interval.policy=model",
        "--set", f"interval.model={model}",
    ]  # fmt: skip


def cc_map(substitute: dict[str, str] | None = None) -> dict[str, str]:
    """Scenario flow kind -> Linux congestion control or PRAGUE, with explicit substitutions."""
    m = dict(CC)
    for kind, cc in (substitute or {}).items():
        if kind not in CC:
            raise EmuError(f"--substitute {kind}={cc}: {kind!r} is not a TCP flow kind")
        if cc not in TCP_CCS:
            raise EmuError(f"--substitute {kind}={cc}: unknown congestion control {cc!r}")
        m[kind] = cc
    return m


def flow_codepoint(f: Flow) -> str:
    """The ECN codepoint a flow entry's packets carry in the emulator."""
    return ecn_codepoint(f.ecn)


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
        runs_as = WEB_CC[f.cc] if f.kind == "web" else ccs.get(f.kind)
        if runs_as == PRAGUE:
            why = prague_missing()
            if why:
                raise EmuError(f"{sc.path}: flows[{i}] kind {f.kind!r}: {why}")
        elif runs_as is not None and runs_as not in have:
            raise EmuError(
                f"{sc.path}: flows[{i}] kind {f.kind!r} needs the {runs_as} congestion"
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
        if f.kind == "web":
            continue
        dur = (f.stop_s if f.stop_s is not None else sc.duration_s) - f.start_s
        if dur < 1:
            raise EmuError(f"{sc.path}: flows[{i}] lasts {dur:.2f} s; iperf3 needs at least 1 s")
    if len(sc.flows) > 60:
        raise EmuError(f"{sc.path}: {len(sc.flows)} flow entries; the emulator takes 60 at most")


def flow_specs(
    sc: Scenario, duration: float, substitute: dict[str, str] | None = None
) -> tuple[list[Host], list[Any], list[int], list[str]]:
    """Hosts (one per flow entry), specs, the flow entry of each spec, and each entry's kind."""
    ccs = cc_map(substitute)
    hosts: list[Host] = []
    specs: list[Any] = []
    entry: list[int] = []
    kinds: list[str] = []
    for i, f in enumerate(sc.flows):
        addr = host_ip(i)
        cp = flow_codepoint(f)
        runs_as = ccs.get(f.kind)
        tcp = f.kind != "udp" and runs_as != PRAGUE
        hosts.append(Host(addr, int(f.rtt_ms * 500), cp if tcp else False))
        stop = min(f.stop_s if f.stop_s is not None else duration, duration)
        secs = max(1.0, stop - f.start_s)
        label = f"flows[{i}]"
        if f.kind == "web":
            new = []  # the web client's (web_sources)
        elif f.kind == "udp":
            new = [
                FlowSpec(
                    addr,
                    5201 + i,
                    secs,
                    udp_mbps=f.rate_mbps * f.count,
                    tos=cp,
                    parallel=f.count,
                    start_s=f.start_s,
                    label=label,
                )
            ]
        elif runs_as == PRAGUE:
            new = [
                PragueSpec(
                    addr,
                    6000 + 64 * j + i,
                    secs,
                    ecn=cp,
                    start_s=f.start_s,
                    label=label if f.count == 1 else f"{label}.{j}",
                    seed=1000 * i + j,
                )
                for j in range(f.count)
            ]
        else:
            assert runs_as is not None
            new = [
                FlowSpec(
                    addr,
                    5201 + i,
                    secs,
                    runs_as,
                    parallel=f.count,
                    start_s=f.start_s,
                    label=label,
                )
            ]
        specs += new
        entry += [i] * len(new)
        kinds.append(f.kind)
    return hosts, specs, entry, kinds


def web_sources(sc: Scenario, seed: int, duration: float) -> list[tuple[int, WebSource]]:
    """(flow entry, source) of every web source: each entry's count sources
    at the entry's address, with the transfers ns-3 runs for this seed."""
    out = []
    expanded = 0  # sim/web.py numbers sources over the expanded flows, as ns-3 does
    for i, f in enumerate(sc.flows):
        for j in range(f.count):
            if f.kind == "web":
                label = f"flows[{i}]" + (f".{j}" if f.count > 1 else "")
                plan = web_transfers(f, seed, duration, source=expanded)
                src = WebSource(label, host_ip(i), WEB_CC[f.cc], flow_codepoint(f), plan)
                out.append((i, src))
            expanded += 1
    return out


def _transfer_rows(sc: Scenario, entries: dict[str, int], done: list[Any]) -> list[dict]:
    """The web client's transfers as the metrics take them (sim/metrics.fct_metrics):
    FCT from the scheduled start, as in ns-3."""
    rows = []
    for t in done:
        entry = entries[t.source]
        ok = not t.error and not math.isnan(t.fct_s)
        rows.append(
            {
                "source": t.source,
                "entry": entry,
                "cls": sc.flows[entry].cls,
                "start_s": t.start_s,
                "bytes": t.size,
                "started": not math.isnan(t.lateness_s),
                "fct_s": t.lateness_s + t.fct_s if ok else None,
            }
        )
    return rows


def _notes(kinds: list[str], ccs: dict[str, str]) -> list[str]:
    notes = [
        f"{k} flows ran as Linux {ccs[k]} (substituted)"
        for k in sorted(set(kinds))
        if k in ccs and ccs[k] != CC[k]
    ]
    if any(ccs.get(k) == "dctcp" for k in kinds):
        notes.append("Linux DCTCP sends ECT(0): it shares the Classic queue")
    scalable = sorted({k for k in kinds if ccs.get(k) == PRAGUE})
    if scalable:
        notes.append(PRAGUE_NOTE.format(kinds=", ".join(scalable)))
    return notes


def _flow_row(entry: int, kind: str, results: list[FlowResult]) -> dict[str, Any]:
    """One flow entry's line in the report: its specs' results together."""
    row: dict[str, Any] = {
        "label": f"flows[{entry}]",
        "kind": kind,
        "goodput_mbps": round(sum(r.goodput_mbps for r in results), 3),
        "retransmits": sum(r.retransmits for r in results),
        "udp_lost": sum(r.lost_packets for r in results) if kind == "udp" else 0,
    }
    pr = [r for r in results if isinstance(r, PragueResult)]
    if pr:
        rx = sum(r.receiver.get("rx_bytes", 0) for r in pr)
        ce = sum(r.receiver.get("ce_bytes", 0) for r in pr)
        row["prague"] = {
            "senders": len(pr),
            "ce_fraction": ce / rx if rx else 0.0,
            "alpha_end": [r.sender.get("alpha") for r in pr],
            "mean_cwnd_bytes": [r.sender.get("mean_cwnd") for r in pr],
            "lost_pkts": sum(int(r.sender.get("lost_pkts", 0)) for r in pr),
            "rtos": sum(int(r.sender.get("rtos", 0)) for r in pr),
            "owd_p99_ms": [r.receiver.get("owd_ms", {}).get("p99") for r in pr],
        }
    return row


def emulate(
    sc: Scenario,
    aqm: str,
    workdir: Path,
    model: str | None = None,
    duration: float | None = None,
    verdict_timeout_us: int = 0,
    substitute: dict[str, str] | None = None,
    seed: int | None = None,
    interval_model: str | None = None,
) -> dict[str, Any]:
    """Run one scenario with one AQM on real stacks; metrics as the ns-3 runs give.

    seed: the web flows' schedule (default: the scenario's first seed);
    interval_model: the checkpoint ``interval`` runs."""
    if duration:
        sc = replace(
            sc,
            duration_s=duration,
            rate_changes=tuple(c for c in sc.rate_changes if c.at_s < duration),
        )
    check_emulatable(sc, aqm, substitute)
    duration = sc.duration_s
    hosts, specs, entry_of, kinds = flow_specs(sc, duration, substitute)
    seed = sc.seeds[0] if seed is None else seed
    web = web_sources(sc, seed, duration)
    web_entry = {src.label: e for e, src in web}
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    ring = (
        f"/dev/shm/aqmllm-emu-{os.getpid()}-{time.monotonic_ns()}" if aqm in DAEMON_AQMS else None
    )
    fallback = aqm if aqm in FALLBACKS else "dualpi2"
    if aqm == "interval" and not interval_model:
        raise EmuError("the interval AQM needs an interval checkpoint (interval_model)")
    daemon = None
    with EmuTopology(
        int(sc.rate_mbps * 1e6),
        hosts[0].delay_us,
        hosts,
        sc.buffer_pkts,
        fallback,
        ring,
        verdict_timeout_us=verdict_timeout_us,
        export="intervals" if aqm == "interval" else "both",
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
                    extra=interval_daemon_settings(interval_model) if aqm == "interval" else None,
                )
                daemon.wait_attached()
            flows = Flows(topo, specs)
            sources = [src for _, src in web]
            webload = WebLoad(topo, sources, workdir, duration + 5) if sources else None
            probes = [LatencyProbe(topo, hosts[0].addr, duration, workdir)]
            if have_irtt():
                probes.append(
                    LatencyProbe(topo, hosts[0].addr, duration, workdir, "ect1", port=2113)
                )
            if webload is not None:
                webload.start_server()
            changes = list(sc.rate_changes)

            def pump() -> None:
                while changes and time.monotonic() >= flows.t0 + changes[0].at_s:
                    topo.set_rate(int(changes.pop(0).rate_mbps * 1e6))

            flows.start_servers()
            flows.t0 = time.monotonic()
            for p in probes:
                p.start()
            if webload is not None:
                webload.start(flows.t0)
            flows.start_clients(pump)
            scen_t0_ns = int(flows.t0 * 1e9)
            while time.monotonic() < flows.t0 + duration:
                pump()
                time.sleep(0.01)
            results = flows.wait(timeout=duration + 30)
            transfers = webload.wait(timeout=40) if webload is not None else []
            latency = [p.result() for p in probes]
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
        raise EmuError("traffic failed: " + "; ".join(errors))
    per_entry: list[list[FlowResult]] = [[] for _ in sc.flows]
    for e, r in zip(entry_of, results, strict=True):
        per_entry[e].append(r)
    rx = [sum(r.rx_bytes for r in rs) for rs in per_entry]
    for t in transfers:  # a web entry's bytes: its finished transfers'
        if not t.error and not math.isnan(t.fct_s):
            rx[web_entry[t.source]] += t.size
    by_src = {k: int(v) for k, v in stats["by_src"].items() if k != "limit"}
    rows = _transfer_rows(sc, web_entry, transfers)
    m = compute_metrics(sc, events, rx, kinds, by_src, rows)
    classic = latency[0]
    m.update(
        {
            "scenario": sc.name,
            "aqm": aqm,
            "seed": seed,
            "engine": "emulator",
            "log": str(log),
            # the Classic probe, under its old name (ping or irtt, Not-ECT)
            "ping_rtt_ms": {
                "n": classic["n"],
                "p50": classic.get("p50_ms", float("nan")),
                "p99": classic.get("p99_ms", float("nan")),
            },
            "latency_under_load": latency,
            "flows": [
                _flow_row(i, k, rs) for i, (k, rs) in enumerate(zip(kinds, per_entry, strict=True))
            ],
            "router": {k: v for k, v in stats.items() if k not in ("ring_counters",)},
            "ring_counters": counters_by_name(stats.get("ring_counters", [])),
            "notes": _notes(kinds, cc_map(substitute)),
        }
    )
    for row, k, b in zip(m["flows"], kinds, rx, strict=True):
        if k == "web":  # no iperf3 of its own: the finished transfers' bytes
            row["goodput_mbps"] = round(b * 8 / duration / 1e6, 3)
    if webload is not None:
        m["web_fct"] = fct_summary(transfers)
        m["web_transfers"] = len(transfers)
        m["transfers"] = {
            "started": sum(1 for t in rows if t["started"]),
            "done": sum(1 for t in rows if t["fct_s"] is not None),
            "planned": len(rows),
        }
    return m
