"""One ns-3 run: a dumbbell scenario through one AQM, with the daemon in the
loop when the AQM is a model.

Topology: one sender and one receiver per flow (per web source), each sender
on its own 1 Gbit/s access link whose delay sets the flow's base RTT, two
routers and the bottleneck between them; the AQM sits on the first router's
bottleneck device (whose own device queue holds one packet, so the queue
builds in the queue disc).  Every packet's outcome at the queue disc is
logged in C++ (sim/evlog/aqmllm_evlog.h).

AQM names: a base AQM (all_aqms()) optionally with a delay target,
``dualpi2@10ms``: the sweepable AQMs take it as their main parameter; or
``interval:POLICY``: the fallback with the interval loop writing POLICY's
residuals.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from aqmllm.bridge import layout
from aqmllm.sim.evlog import ip_u32, read_evlog
from aqmllm.sim.metrics import compute_metrics, delay_cdf, time_series
from aqmllm.sim.scenario import Flow, Scenario
from aqmllm.sim.web import web_transfers

# Ours: the portable C core as an ns-3 queue disc, {name: AQMLLM_FB_* id}.
CORE_AQMS = layout.FALLBACKS
# ns-3's own queue discs, ECN on where they support it.
NS3_AQMS = {
    "fifo": ("ns3::FifoQueueDisc", {}),
    "ns3-pie": ("ns3::PieQueueDisc", {"UseEcn": True}),
    "ns3-codel": ("ns3::CoDelQueueDisc", {"UseEcn": True}),
    "fq-codel": ("ns3::FqCoDelQueueDisc", {"UseEcn": True}),
    "ns3-red": ("ns3::RedQueueDisc", {"UseEcn": True}),
    "cobalt": ("ns3::CobaltQueueDisc", {"UseEcn": True}),
}
# The ns-3 attribute that holds each swept ns-3 AQM's delay target.
NS3_TARGET_ATTR = {
    "ns3-pie": "QueueDelayReference",
    "ns3-codel": "Target",
    "fq-codel": "Target",
    "cobalt": "Target",
}
# Models decide through the real daemon loop over our core's ring.
MODEL_AQMS = ("student", "teacher")
# The interval tier: "interval:POLICY" runs the fallback (RunSpec.fallback)
# with the real interval loop writing POLICY's residuals
# (aqmllm.daemon.interval_policies.parse_spec: "interval:fallback",
# "interval:constant:c=+1,target=-1").
INTERVAL_PREFIX = "interval:"
INTERVAL_TICK_US = 1000.0
# Each AQM's default delay target (ms): a swept setting equal to it is the AQM
# itself (ours from the core's parameter defaults).
DEFAULT_TARGET_MS = {
    **{name: t / 1e6 for name, t in layout.DEFAULT_TARGET_NS.items() if t},
    "ns3-pie": 15.0,
    "ns3-codel": 5.0,
    "fq-codel": 5.0,
    "cobalt": 5.0,
}
# The daemon benchmark's measured verdict latency p99 at 100k records/s
# (make bench-daemon: 136 us with the C fast path; 140 leaves a margin); the
# simulator charges it to every verdict.
DEFAULT_LATENCY_US = 140.0
TICK_US = 100.0

# prague: ns-3 has no TCP Prague; its DCTCP with ECT(1) is the in-tree scalable sender
CC = {
    "cubic": "ns3::TcpCubic",
    "newreno": "ns3::TcpNewReno",
    "dctcp": "ns3::TcpDctcp",
    "prague": "ns3::TcpDctcp",
}
ECN_CODE = {"not-ect": 0, "ect1": 1, "ect0": 2}  # AQMLLM_ECN_* of kmod/include/aqmllm_ring.h
# Socket buffers.  The receive buffer holds twice what a sender can have
# unacknowledged (its send buffer): the receiver's window then never closes,
# and ns-3 3.44's zero-window probe, which dereferences the segment at
# SND.NXT, never runs on a socket with nothing left to send (the crash of
# TcpSocketBase::PersistTimeout -> TcpTxItem::GetPacketCopy).
SND_BUF = 4 << 20
RCV_BUF = 2 * SND_BUF
WEB_PORT_BASE = 1024  # transfer i of a web source binds local port WEB_PORT_BASE + i


@dataclass
class RunSpec:
    scenario: Scenario
    aqm: str
    seed: int
    model: str | None = None
    latency_us: float = DEFAULT_LATENCY_US
    fallback: str = "dualpi2"
    collect: bool = False  # record (state, expert action) pairs for training
    keep_log: bool = True  # keep the event log next to the result
    extra: dict[str, Any] = field(default_factory=dict)


def all_aqms() -> list[str]:
    return [*CORE_AQMS, *NS3_AQMS, *MODEL_AQMS]


def sweepable_aqms() -> list[str]:
    return list(DEFAULT_TARGET_MS)


def split_aqm(name: str) -> tuple[str, float | None]:
    """``NAME@10ms`` -> (NAME, 10.0); ``NAME`` -> (NAME, None);
    ``interval:POLICY`` -> (the name, None) once POLICY parses."""
    if name.startswith(INTERVAL_PREFIX):
        from aqmllm.daemon.interval_policies import parse_spec
        from aqmllm.daemon.policies import PolicyError

        try:
            parse_spec(name[len(INTERVAL_PREFIX) :])
        except PolicyError as exc:
            raise ValueError(str(exc)) from None
        return name, None
    base, at, param = name.partition("@")
    if base not in all_aqms():
        raise ValueError(f"unknown AQM {base!r}: one of {', '.join(all_aqms())} or interval:POLICY")
    if not at:
        return base, None
    if base not in DEFAULT_TARGET_MS:
        raise ValueError(f"AQM {base!r} takes no target; these do: {', '.join(DEFAULT_TARGET_MS)}")
    try:
        if not param.endswith("ms"):
            raise ValueError
        target = float(param[:-2])
    except ValueError:
        raise ValueError(f"{name!r}: a target is written like {base}@10ms") from None
    if not 0.1 <= target <= 1000:
        raise ValueError(f"{name!r}: the target must lie in 0.1-1000 ms")
    return base, target


def aqm_problem(name: str) -> str | None:
    """Why an AQM name is not runnable, or None."""
    try:
        split_aqm(name)
    except ValueError as exc:
        return str(exc)
    return None


def aqm_name(base: str, target_ms: float | None) -> str:
    if target_ms is None or target_ms == DEFAULT_TARGET_MS.get(base):
        return base
    return f"{base}@{target_ms:g}ms"


def flow_start_offsets(n: int, jitter_s: float, seed: int) -> list[float]:
    """Per-flow start delays in [0, jitter_s), the same for every AQM run with this seed."""
    if jitter_s <= 0:
        return [0.0] * n
    rng = random.Random(seed)
    return [rng.uniform(0.0, jitter_s) for _ in range(n)]


def expand_flows(sc: Scenario) -> list[tuple[int, Flow]]:
    """(entry index in sc.flows, flow) for every sender: count copies of each entry."""
    return [(i, f) for i, f in enumerate(sc.flows) for _ in range(f.count)]


def sender_address(i: int) -> str:
    return f"10.{16 + i // 256}.{i % 256}.1"


def receiver_subnet(i: int) -> str:
    return f"10.{128 + i // 256}.{i % 256}.0"


def source_labels(sc: Scenario) -> list[str]:
    """A label per expanded flow: kind, entry and copy (`cubic[0]#1`)."""
    out, seen = [], {}
    for entry, f in expand_flows(sc):
        k = seen[entry] = seen.get(entry, -1) + 1
        out.append(f"{f.kind}[{entry}]" + (f"#{k}" if f.count > 1 else ""))
    return out


def run(spec: RunSpec, workdir: Path) -> dict:
    from aqmllm.sim.ns3.env import ns

    n3 = ns()
    import cppyy

    sc = spec.scenario
    base, target_ms = split_aqm(spec.aqm)
    interval = base.startswith(INTERVAL_PREFIX)
    n3.RngSeedManager.SetSeed(spec.seed)
    n3.RngSeedManager.SetRun(1)
    # ns-3 numbers random streams from a process-wide counter that
    # Simulator::Destroy does not reset: without this, ns-3's PIE and RED drew
    # differently depending on which runs a worker process had done before.
    n3.RngSeedManager.ResetNextStreamIndex()
    n3.Config.SetDefault("ns3::TcpSocket::SegmentSize", n3.UintegerValue(1448))
    n3.Config.SetDefault("ns3::TcpSocket::SndBufSize", n3.UintegerValue(SND_BUF))
    n3.Config.SetDefault("ns3::TcpSocket::RcvBufSize", n3.UintegerValue(RCV_BUF))
    n3.Config.SetDefault("ns3::TcpSocket::DelAckCount", n3.UintegerValue(1))
    n3.Config.SetDefault("ns3::TcpDctcp::UseEct0", n3.BooleanValue(False))
    # Receivers accept ECN; each sender chooses its codepoint (LlmSetTcpEcn).
    n3.Config.SetDefault("ns3::TcpSocketBase::UseEcn", n3.StringValue("On"))

    flows = expand_flows(sc)
    nf = len(flows)
    senders, receivers, routers = n3.NodeContainer(), n3.NodeContainer(), n3.NodeContainer()
    senders.Create(nf)
    receivers.Create(nf)
    routers.Create(2)
    stack = n3.InternetStackHelper()
    for c in (senders, receivers, routers):
        stack.Install(c)
    for i, (_, f) in enumerate(flows):
        cc = f.congestion_control
        if cc is not None:
            tid = n3.TypeIdValue(n3.TypeId.LookupByName(CC[cc]))
            for node in (senders.Get(i), receivers.Get(i)):
                n3.Config.Set(f"/NodeList/{node.GetId()}/$ns3::TcpL4Protocol/SocketType", tid)

    addr = n3.Ipv4AddressHelper()
    bneck = n3.PointToPointHelper()
    bneck.SetDeviceAttribute("DataRate", n3.StringValue(f"{int(sc.rate_mbps * 1e6)}bps"))
    bneck.SetChannelAttribute("Delay", n3.StringValue("1ms"))
    bneck.SetQueue("ns3::DropTailQueue", "MaxSize", n3.StringValue("1p"))
    bdevs = bneck.Install(routers.Get(0), routers.Get(1))
    addr.SetBase(n3.Ipv4Address("10.0.0.0"), n3.Ipv4Mask("255.255.255.0"))
    addr.Assign(bdevs)
    rcv_addrs = []
    for i, (_, f) in enumerate(flows):
        access = n3.PointToPointHelper()
        access.SetDeviceAttribute("DataRate", n3.StringValue("1Gbps"))
        one_way = max(0.05, f.rtt_ms / 2 - 2.0)  # bottleneck + receiver add 2 ms
        access.SetChannelAttribute("Delay", n3.StringValue(f"{one_way}ms"))
        d1 = access.Install(senders.Get(i), routers.Get(0))
        addr.SetBase(n3.Ipv4Address(sender_address(i)[:-1] + "0"), n3.Ipv4Mask("255.255.255.0"))
        addr.Assign(d1)
        last = n3.PointToPointHelper()
        last.SetDeviceAttribute("DataRate", n3.StringValue("1Gbps"))
        last.SetChannelAttribute("Delay", n3.StringValue("1ms"))
        d2 = last.Install(routers.Get(1), receivers.Get(i))
        addr.SetBase(n3.Ipv4Address(receiver_subnet(i)), n3.Ipv4Mask("255.255.255.0"))
        rcv_addrs.append(addr.Assign(d2).GetAddress(1))

    tch = n3.TrafficControlHelper()
    dev = bdevs.Get(0)
    tch.Uninstall(dev)
    ring_path = ""
    if base in NS3_AQMS:
        type_name, attrs = NS3_AQMS[base]
        tch.SetRootQueueDisc(type_name)
        qd = tch.Install(dev).Get(0)
        qd.SetAttribute("MaxSize", n3.QueueSizeValue(n3.QueueSize(f"{sc.buffer_pkts}p")))
        for k, v in attrs.items():
            qd.SetAttribute(k, n3.BooleanValue(v))
        if target_ms is not None:
            qd.SetAttribute(
                NS3_TARGET_ATTR[base], n3.TimeValue(n3.MicroSeconds(int(target_ms * 1000)))
            )
    else:
        fb = CORE_AQMS.get(base, CORE_AQMS[spec.fallback])
        tch.SetRootQueueDisc("ns3::AqmLlmQueueDisc")
        qd = tch.Install(dev).Get(0)
        qd.SetAttribute("FallbackId", n3.UintegerValue(fb))
        qd.SetAttribute("Limit", n3.UintegerValue(sc.buffer_pkts))
        qd.SetAttribute("LinkRateBps", n3.UintegerValue(int(sc.rate_mbps * 1e6)))
        qd.SetAttribute("Seed", n3.UintegerValue(spec.seed))
        if target_ms is not None:
            qd.SetAttribute("TargetNs", n3.UintegerValue(int(target_ms * 1e6)))
        if base in MODEL_AQMS or spec.collect or interval:
            ring_path = f"/dev/shm/aqmllm-ns3-{os.getpid()}-{spec.seed}"
            qd.SetAttribute("RingPath", n3.StringValue(ring_path))
        if interval:  # one record per interval, no per-packet records
            qd.SetAttribute("ExportMode", n3.UintegerValue(layout.EXPORT_MODES["intervals"]))
        if spec.collect:
            cppyy.gbl.ns3.DynamicCast[cppyy.gbl.ns3.AqmLlmQueueDisc](qd).KeepDecisions(True)
    workdir.mkdir(parents=True, exist_ok=True)
    # interval:model:PATH names hold slashes: one file name, not a path
    log_path = workdir / f"{sc.name}-{spec.aqm.replace('/', '_')}-{spec.seed}.evlog"
    qlog = n3.CreateObject[n3.QdiscLog]()
    if not qlog.Open(str(log_path)):
        raise RuntimeError(f"cannot write the event log {log_path}")
    qlog.Attach(qd)
    r0_ip = routers.Get(0).GetObject[n3.Ipv4L3Protocol]()
    qlog.WatchArrivals(r0_ip, r0_ip.GetInterfaceForDevice(dev))
    n3.Ipv4GlobalRoutingHelper.PopulateRoutingTables()

    # Seeds move the flows' start times; without jitter only the AQMs' own
    # randomness differs between seeds, and deterministic AQMs repeat exactly.
    starts = flow_start_offsets(nf, sc.start_jitter_s, spec.seed)
    sinks, web = [], []
    for i, (entry, f) in enumerate(flows):
        port = 5000 + i
        stop = f.stop_s if f.stop_s is not None else sc.duration_s
        local = n3.InetSocketAddress(n3.Ipv4Address.GetAny(), port).ConvertTo()
        remote = n3.InetSocketAddress(rcv_addrs[i], port).ConvertTo()
        ecn = ECN_CODE[f.ecn]
        if f.kind == "web":
            sink = n3.CreateObject[n3.LlmWebSink]()
            sink.Setup(port)
            receivers.Get(i).AddApplication(sink)
            sink.SetStartTime(n3.Seconds(0.0))
            app = n3.CreateObject[n3.LlmWebApp]()
            app.Setup(remote, ecn, WEB_PORT_BASE)
            app.SetInitialCwnd(f.init_cwnd)
            plan = web_transfers(f, spec.seed, sc.duration_s, source=i)
            for t, size in plan:
                app.Add(t, size)
            senders.Get(i).AddApplication(app)
            app.SetStartTime(n3.Seconds(0.0))
            app.SetStopTime(n3.Seconds(stop))
            sinks.append(sink)
            web.append((i, entry, f, plan, app, sink))
            continue
        factory = "ns3::UdpSocketFactory" if f.kind == "udp" else "ns3::TcpSocketFactory"
        sink_apps = n3.PacketSinkHelper(factory, local).Install(receivers.Get(i))
        sink_apps.Start(n3.Seconds(0.0))
        sinks.append(sink_apps.Get(0))
        if f.kind == "udp":
            onoff = n3.OnOffHelper(factory, remote)
            onoff.SetAttribute("DataRate", n3.StringValue(f"{int(f.rate_mbps * 1e6)}bps"))
            onoff.SetAttribute("PacketSize", n3.UintegerValue(1200))
            on_s, off_s = (f.on_ms / 1000, f.off_ms / 1000) if f.on_ms else (1.0, 0.0)
            onoff.SetAttribute(
                "OnTime", n3.StringValue(f"ns3::ConstantRandomVariable[Constant={on_s}]")
            )
            onoff.SetAttribute(
                "OffTime", n3.StringValue(f"ns3::ConstantRandomVariable[Constant={off_s}]")
            )
            onoff.SetAttribute("Tos", n3.UintegerValue(ecn))
            apps = onoff.Install(senders.Get(i))
            apps.Start(n3.Seconds(f.start_s + starts[i]))
            apps.Stop(n3.Seconds(stop))
        else:
            app = n3.CreateObject[n3.LlmBulkApp]()
            app.Setup(remote, ecn)
            app.SetInitialCwnd(f.init_cwnd)
            senders.Get(i).AddApplication(app)
            app.SetStartTime(n3.Seconds(f.start_s + starts[i] + 0.001 * i))
            app.SetStopTime(n3.Seconds(stop))
    for change in sc.rate_changes:
        n3.LlmScheduleRate(dev, change.at_s, int(change.rate_mbps * 1e6))

    daemon_state: dict = {}
    if spec.collect:
        _attach_recorder(n3, cppyy, ring_path, daemon_state, sc.duration_s)
    elif interval:
        _attach_interval_daemon(n3, cppyy, spec, ring_path, daemon_state, sc.duration_s)
    elif ring_path:
        _attach_daemon(n3, cppyy, spec, ring_path, daemon_state, sc.duration_s)
    n3.Simulator.Stop(n3.Seconds(sc.duration_s))
    n3.Simulator.Run()

    by_src = None
    ours = None
    if base not in NS3_AQMS:
        ours = cppyy.gbl.ns3.DynamicCast[cppyy.gbl.ns3.AqmLlmQueueDisc](qd)
        by_src = {name: int(ours.BySource(i)) for i, name in enumerate(layout.SOURCES)}
    qstats = qd.GetStats()
    ns3_counts = {
        "received": int(qstats.nTotalReceivedPackets),
        "dropped_before_enqueue": int(qstats.nTotalDroppedPacketsBeforeEnqueue),
        "dropped_after_dequeue": int(qstats.nTotalDroppedPacketsAfterDequeue),
        "marked": int(qstats.nTotalMarkedPackets),
        "dequeued_bytes": int(qstats.nTotalDequeuedBytes),
        "in_queue": int(qd.GetNPackets()),
    }
    if not qlog.Close():
        raise RuntimeError(f"cannot write the event log {log_path}")
    rx = [int(s.TotalRx() if hasattr(s, "TotalRx") else s.GetTotalRx()) for s in sinks]
    transfers = [t for w in web for t in _transfers(*w)]
    experience = None
    if spec.collect:
        dec_path = workdir / f"{sc.name}-{spec.aqm}-{spec.seed}.decisions"
        ours.WriteDecisions(str(dec_path))
        experience = _join_experience(daemon_state, dec_path)
        daemon_state["ring"].close()
    loop = daemon_state.get("loop")
    if loop is not None:
        loop.ring.close()
    ivl = daemon_state.get("interval")
    if ivl is not None:
        ivl.ring.close()
    n3.Simulator.Destroy()
    log = read_evlog(log_path)
    kinds = [f.kind for _, f in flows]
    m = compute_metrics(sc, log, rx, kinds, by_src, transfers)
    m["aqm"], m["scenario"], m["seed"] = spec.aqm, sc.name, spec.seed
    m["base_aqm"], m["target_ms"] = base, target_ms or DEFAULT_TARGET_MS.get(base)
    m["engine"] = "ns-3"
    m["ns3_queue_disc"] = ns3_counts
    labels = source_labels(sc)
    m["series"] = time_series(sc, log, flow_sources(log.flows, nf), labels)
    m["cdf"] = delay_cdf(log, m["warmup_s"])
    m["sources"] = [
        {"label": lab, "entry": e, "kind": f.kind, "class": f.cls, "ecn": f.ecn}
        for lab, (e, f) in zip(labels, flows, strict=True)
    ]
    if transfers:
        m["transfers"] = {
            "started": sum(1 for t in transfers if t["started"]),
            "done": sum(1 for t in transfers if t["fct_s"] is not None),
            "planned": len(transfers),
        }
    if spec.keep_log:
        m["log"] = str(log_path)
    else:
        log_path.unlink()
    if experience is not None:
        m["experience"] = experience
    if base in MODEL_AQMS:
        m["policy_used"], m["label"] = _policy_label(spec.aqm, loop)
    if loop is not None:
        st = loop.stats
        m["daemon"] = {
            "records": st.records,
            "verdicts": st.verdicts,
            "late_skipped": st.late_skipped,
            "policy": loop.policy.name if loop.policy else "off",
            "policy_off_records": st.policy_off_records,
            "failures": st.failures,
            "latency_us": spec.latency_us,
        }
    traced = daemon_state.get("trace_policy")
    if traced is not None and traced.trace:
        m["interval_trace"] = str(write_trace(log_path.with_suffix(".ivl.npz"), traced.trace))
    if ivl is not None:
        snap = ivl.snapshot()
        # What the core says was in effect at the end (its last interval record).
        snap["in_effect"] = snap.pop("queues").get("0", {}).get("in_effect", {})
        m["daemon"] = {"interval": snap}
    return m


def write_trace(path: Path, trace: list[tuple[np.ndarray, np.ndarray]]) -> Path:
    """A behaviour run's rounds -- the records each saw and the levels it chose -- as
    one file (sim/interval_pool.py turns them into pool episodes)."""
    np.savez_compressed(
        path,
        records=np.concatenate([r for r, _ in trace]),
        actions=np.concatenate([a for _, a in trace]),
    )
    return path


def _policy_label(aqm: str, loop: Any) -> tuple[str, str]:
    """What decided a model run, and the name the report gives it: a model
    that was off ("policy off": the fallback decided) is not the model."""
    records = loop.stats.records if loop is not None else 0
    off = loop.stats.policy_off_records if loop is not None else 0
    if loop is None or records == 0:
        return "none: the daemon decided nothing", f"{aqm} [no daemon]"
    if off == 0 and loop.policy is not None:
        return loop.policy.name, aqm
    share = off / records
    name = loop.policy.name if loop.policy is not None else "off"
    pct = f"{share:.0%}" if share >= 0.01 else f"{share:.1%}"
    return f"{name}, off for {share:.1%} of records", f"{aqm} [policy off {pct}]"


def flow_sources(flows: np.ndarray, nsources: int) -> np.ndarray:
    """The expanded flow (sender) of each flow-table entry, from its source address."""
    by_addr = {ip_u32(sender_address(i)): i for i in range(nsources)}
    return np.array([by_addr.get(int(a), -1) for a in flows["saddr"]], dtype=np.int64)


def _transfers(i: int, entry: int, f: Flow, plan: list, app: Any, sink: Any) -> list[dict]:
    """Each planned transfer of web source i with its completion time (None: not done)."""
    done: dict[int, tuple[int, int, bool]] = {}
    for c in range(int(sink.Connections())):
        k = int(sink.PeerPort(c)) - WEB_PORT_BASE
        done[k] = (int(sink.Bytes(c)), int(sink.LastByteNs(c)), bool(sink.Closed(c)))
    out = []
    for k, (start, size) in enumerate(plan):
        got, last_ns, closed = done.get(k, (0, 0, False))
        fct = last_ns / 1e9 - start if closed and got >= size else None
        out.append(
            {
                "source": i,
                "entry": entry,
                "cls": f.cls,
                "start_s": start,
                "bytes": size,
                "started": k in done,
                "fct_s": fct,
            }
        )
    return out


def _attach_interval_daemon(
    n3, cppyy, spec: RunSpec, ring_path: str, state: dict, stop_s: float
) -> None:
    """The real IntervalLoop, stepped every millisecond of simulated time; a
    record is seen latency_us after its interval ended."""
    from aqmllm.bridge.ring import Ring
    from aqmllm.daemon.interval_loop import IntervalLoop, IntervalSettings
    from aqmllm.daemon.interval_policies import parse_spec

    policy = parse_spec(spec.aqm[len(INTERVAL_PREFIX) :])
    if spec.aqm.startswith(INTERVAL_PREFIX + "behaviour:"):
        policy.start_trace()  # type: ignore[attr-defined]  # a LevelPolicy: a pool collection
        state["trace_policy"] = policy
    latency_ns = int(spec.latency_us * 1000)

    def tick(now_s: float) -> None:
        now_ns = int(now_s * 1e9)
        if "interval" not in state:
            if not Path(ring_path).exists():
                return
            # Wall-clock limits mean nothing on the simulated clock: a slow
            # host must not turn the policy off (as for the per-packet loop).
            settings = IntervalSettings(model_timeout_ms=60_000)
            state["interval"] = IntervalLoop(Ring.open_shm(ring_path), policy, settings)
        loop = state["interval"]
        loop.ring.last_clock_ns = now_ns  # the producer clock is simulated
        loop.ring.visible_before_ns = now_ns - latency_ns
        loop.step(now_ns=now_ns)

    fn = cppyy.gbl.std.function["void(double)"](tick)
    state["fn"], state["tick"] = fn, tick
    n3.LlmSchedulePeriodic(INTERVAL_TICK_US / 1e6, stop_s, fn)


def _attach_daemon(n3, cppyy, spec: RunSpec, ring_path: str, state: dict, stop_s: float) -> None:
    """The real InferenceLoop, stepped on simulated time with a charged latency."""
    from aqmllm.bridge.ring import Ring
    from aqmllm.daemon.loop import InferenceLoop, LoopSettings
    from aqmllm.models.runtime import load_policy

    if not spec.model:
        raise ValueError(f"AQM {spec.aqm!r} needs a model checkpoint")
    model_path = spec.model
    latency_ns = int(spec.latency_us * 1000)

    def tick(now_s: float) -> None:
        now_ns = int(now_s * 1e9)
        if "loop" not in state:
            if not Path(ring_path).exists():
                return
            ring = Ring.open_shm(ring_path)
            settings = LoopSettings(batch_size=4096, model_timeout_ms=60_000)
            state["loop"] = InferenceLoop(ring, lambda: load_policy(model_path), settings)
        loop = state["loop"]
        # The producer clock is simulated: echo it as the daemon would.
        loop.ring.last_clock_ns = now_ns
        loop.ring.visible_before_ns = now_ns - latency_ns
        while loop.step(now_ns=now_ns):
            pass

    fn = cppyy.gbl.std.function["void(double)"](tick)
    state["fn"], state["tick"] = fn, tick  # keep both alive for the whole run
    n3.LlmSchedulePeriodic(TICK_US / 1e6, stop_s, fn)


def _attach_recorder(n3, cppyy, ring_path: str, state: dict, stop_s: float) -> None:
    """A silent daemon: copies every record, decides nothing, keeps the
    heartbeat, so the expert's decisions all land at dequeue."""
    from aqmllm.bridge.ring import Ring

    state["chunks"] = []

    def tick(now_s: float) -> None:
        now_ns = int(now_s * 1e9)
        if "ring" not in state:
            if not Path(ring_path).exists():
                return
            state["ring"] = Ring.open_shm(ring_path)
            state["ring"].attach()
        ring = state["ring"]
        ring.last_clock_ns = now_ns
        while views := ring.peek(1 << 16):
            for v in views:
                state["chunks"].append(v.copy())
                ring.consume(len(v))
        ring.heartbeat()

    fn = cppyy.gbl.std.function["void(double)"](tick)
    state["fn"], state["tick"] = fn, tick
    n3.LlmSchedulePeriodic(TICK_US / 1e6, stop_s, fn)


def _join_experience(state: dict, dec_path: Path) -> dict:
    dec = np.fromfile(dec_path, dtype=layout.DECISION_DTYPE)
    chunks = state.get("chunks") or [np.zeros(0, layout.RECORD_DTYPE)]
    records = np.concatenate(chunks)
    order = np.argsort(records["seq"])
    records = records[order]
    pos = np.searchsorted(records["seq"], dec["seq"])
    ok = (pos < len(records)) & (records["seq"][np.minimum(pos, len(records) - 1)] == dec["seq"])
    return {"records": records[pos[ok]], "actions": dec["action"][ok].astype(np.uint8)}
