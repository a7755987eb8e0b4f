"""One ns-3 run: a dumbbell scenario through one AQM, with the daemon in the
loop when the AQM is a model.

Topology: one sender and one receiver per flow, each sender on its own
1 Gbit/s access link whose delay sets the flow's base RTT, two routers and
the bottleneck between them; the AQM sits on the first router's bottleneck
device (whose own device queue holds one packet, so the queue builds in the
queue disc).  Per-packet dequeue/drop/mark events are logged in C++.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from aqmllm.bridge import layout
from aqmllm.sim.metrics import LOG_DTYPE, compute_metrics
from aqmllm.sim.scenario import Scenario

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
# Models decide through the real daemon loop over our core's ring.
MODEL_AQMS = ("student", "teacher")
# The interval tier: "interval:POLICY" runs the fallback (RunSpec.fallback)
# with the real interval loop writing POLICY's residuals
# (aqmllm.daemon.interval_policies.parse_spec: "interval:fallback",
# "interval:constant:c=+1,target=-1").
INTERVAL_PREFIX = "interval:"
INTERVAL_TICK_US = 1000.0
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


@dataclass
class RunSpec:
    scenario: Scenario
    aqm: str
    seed: int
    model: str | None = None
    latency_us: float = DEFAULT_LATENCY_US
    fallback: str = "dualpi2"
    collect: bool = False  # record (state, expert action) pairs for training


def all_aqms() -> list[str]:
    return [*CORE_AQMS, *NS3_AQMS, *MODEL_AQMS]


def aqm_problem(name: str) -> str | None:
    """Why an AQM name is not runnable, or None."""
    if name.startswith(INTERVAL_PREFIX):
        from aqmllm.daemon.interval_policies import parse_spec
        from aqmllm.daemon.policies import PolicyError

        try:
            parse_spec(name[len(INTERVAL_PREFIX) :])
        except PolicyError as exc:
            return str(exc)
        return None
    if name not in all_aqms():
        return f"unknown AQM {name!r}: one of {', '.join(all_aqms())} or interval:POLICY"
    return None


def flow_start_offsets(n: int, jitter_s: float, seed: int) -> list[float]:
    """Per-flow start delays in [0, jitter_s), the same for every AQM run with this seed."""
    if jitter_s <= 0:
        return [0.0] * n
    rng = random.Random(seed)
    return [rng.uniform(0.0, jitter_s) for _ in range(n)]


def _expand(sc: Scenario):
    out = []
    for f in sc.flows:
        out += [f] * f.count
    return out


def run(spec: RunSpec, workdir: Path) -> dict:
    from aqmllm.sim.ns3.env import ns

    n3 = ns()
    import cppyy

    sc = spec.scenario
    problem = aqm_problem(spec.aqm)
    if problem is not None:
        raise ValueError(problem)
    interval = spec.aqm.startswith(INTERVAL_PREFIX)
    n3.RngSeedManager.SetSeed(spec.seed)
    n3.RngSeedManager.SetRun(1)
    n3.Config.SetDefault("ns3::TcpSocket::SegmentSize", n3.UintegerValue(1448))
    n3.Config.SetDefault("ns3::TcpSocket::SndBufSize", n3.UintegerValue(4 << 20))
    n3.Config.SetDefault("ns3::TcpSocket::RcvBufSize", n3.UintegerValue(4 << 20))
    n3.Config.SetDefault("ns3::TcpSocket::DelAckCount", n3.UintegerValue(1))
    n3.Config.SetDefault("ns3::TcpDctcp::UseEct0", n3.BooleanValue(False))
    # Receivers accept ECN; each sender chooses (LlmBulkApp sets its socket).
    n3.Config.SetDefault("ns3::TcpSocketBase::UseEcn", n3.StringValue("On"))

    flows = _expand(sc)
    nf = len(flows)
    senders, receivers, routers = n3.NodeContainer(), n3.NodeContainer(), n3.NodeContainer()
    senders.Create(nf)
    receivers.Create(nf)
    routers.Create(2)
    stack = n3.InternetStackHelper()
    for c in (senders, receivers, routers):
        stack.Install(c)
    for i, f in enumerate(flows):
        if f.kind in CC:
            tid = n3.TypeIdValue(n3.TypeId.LookupByName(CC[f.kind]))
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
    for i, f in enumerate(flows):
        access = n3.PointToPointHelper()
        access.SetDeviceAttribute("DataRate", n3.StringValue("1Gbps"))
        one_way = max(0.05, f.rtt_ms / 2 - 2.0)  # bottleneck + receiver add 2 ms
        access.SetChannelAttribute("Delay", n3.StringValue(f"{one_way}ms"))
        d1 = access.Install(senders.Get(i), routers.Get(0))
        addr.SetBase(n3.Ipv4Address(f"10.1.{i}.0"), n3.Ipv4Mask("255.255.255.0"))
        addr.Assign(d1)
        last = n3.PointToPointHelper()
        last.SetDeviceAttribute("DataRate", n3.StringValue("1Gbps"))
        last.SetChannelAttribute("Delay", n3.StringValue("1ms"))
        d2 = last.Install(routers.Get(1), receivers.Get(i))
        addr.SetBase(n3.Ipv4Address(f"10.2.{i}.0"), n3.Ipv4Mask("255.255.255.0"))
        rcv_addrs.append(addr.Assign(d2).GetAddress(1))

    tch = n3.TrafficControlHelper()
    dev = bdevs.Get(0)
    tch.Uninstall(dev)
    ring_path = ""
    if spec.aqm in NS3_AQMS:
        type_name, attrs = NS3_AQMS[spec.aqm]
        tch.SetRootQueueDisc(type_name)
        qd = tch.Install(dev).Get(0)
        qd.SetAttribute("MaxSize", n3.QueueSizeValue(n3.QueueSize(f"{sc.buffer_pkts}p")))
        for k, v in attrs.items():
            qd.SetAttribute(k, n3.BooleanValue(v))
    else:
        fb = CORE_AQMS.get(spec.aqm, CORE_AQMS[spec.fallback])
        tch.SetRootQueueDisc("ns3::AqmLlmQueueDisc")
        qd = tch.Install(dev).Get(0)
        qd.SetAttribute("FallbackId", n3.UintegerValue(fb))
        qd.SetAttribute("Limit", n3.UintegerValue(sc.buffer_pkts))
        qd.SetAttribute("LinkRateBps", n3.UintegerValue(int(sc.rate_mbps * 1e6)))
        qd.SetAttribute("Seed", n3.UintegerValue(spec.seed))
        if spec.aqm in MODEL_AQMS or spec.collect or interval:
            ring_path = f"/dev/shm/aqmllm-ns3-{os.getpid()}-{spec.seed}"
            qd.SetAttribute("RingPath", n3.StringValue(ring_path))
        if interval:  # one record per interval, no per-packet records
            qd.SetAttribute("ExportMode", n3.UintegerValue(layout.EXPORT_MODES["intervals"]))
        if spec.collect:
            cppyy.gbl.ns3.DynamicCast[cppyy.gbl.ns3.AqmLlmQueueDisc](qd).KeepDecisions(True)
    qlog = n3.CreateObject[n3.QdiscLog]()
    qlog.Attach(qd)
    n3.Ipv4GlobalRoutingHelper.PopulateRoutingTables()

    # Seeds move the flows' start times; without jitter only the AQMs' own
    # randomness differs between seeds, and deterministic AQMs repeat exactly.
    starts = flow_start_offsets(len(flows), sc.start_jitter_s, spec.seed)
    sinks = []
    for i, f in enumerate(flows):
        port = 5000 + i
        stop = f.stop_s if f.stop_s is not None else sc.duration_s
        local = n3.InetSocketAddress(n3.Ipv4Address.GetAny(), port).ConvertTo()
        remote = n3.InetSocketAddress(rcv_addrs[i], port).ConvertTo()
        factory = "ns3::UdpSocketFactory" if f.kind == "udp" else "ns3::TcpSocketFactory"
        sink_apps = n3.PacketSinkHelper(factory, local).Install(receivers.Get(i))
        sink_apps.Start(n3.Seconds(0.0))
        sinks.append(sink_apps.Get(0))
        if f.kind == "udp":
            onoff = n3.OnOffHelper(factory, remote)
            onoff.SetAttribute("DataRate", n3.StringValue(f"{int(f.rate_mbps * 1e6)}bps"))
            onoff.SetAttribute("PacketSize", n3.UintegerValue(1200))
            onoff.SetAttribute("OnTime", n3.StringValue("ns3::ConstantRandomVariable[Constant=1]"))
            onoff.SetAttribute("OffTime", n3.StringValue("ns3::ConstantRandomVariable[Constant=0]"))
            apps = onoff.Install(senders.Get(i))
            apps.Start(n3.Seconds(f.start_s + starts[i]))
            apps.Stop(n3.Seconds(stop))
        else:
            app = n3.CreateObject[n3.LlmBulkApp]()
            app.Setup(remote, bool(f.ecn or f.scalable))
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
    if spec.aqm not in NS3_AQMS:
        ours = cppyy.gbl.ns3.DynamicCast[cppyy.gbl.ns3.AqmLlmQueueDisc](qd)
        by_src = {name: int(ours.BySource(i)) for i, name in enumerate(layout.SOURCES)}
    workdir.mkdir(parents=True, exist_ok=True)
    log_path = workdir / f"{sc.name}-{spec.aqm}-{spec.seed}.bin"
    if not qlog.Write(str(log_path)):
        raise RuntimeError(f"cannot write {log_path}")
    rx = [int(s.GetTotalRx()) for s in sinks]
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
    events = np.fromfile(log_path, dtype=LOG_DTYPE)
    m = compute_metrics(sc, events, rx, [f.kind for f in flows], by_src)
    m["aqm"], m["scenario"], m["seed"] = spec.aqm, sc.name, spec.seed
    m["log"] = str(log_path)
    if experience is not None:
        m["experience"] = experience
    if loop is not None:
        m["daemon"] = {
            "records": loop.stats.records,
            "verdicts": loop.stats.verdicts,
            "late_skipped": loop.stats.late_skipped,
            "policy": loop.policy.name if loop.policy else "off",
            "latency_us": spec.latency_us,
        }
    if ivl is not None:
        snap = ivl.snapshot()
        # What the core says was in effect at the end (its last interval record).
        snap["in_effect"] = snap.pop("queues").get("0", {}).get("in_effect", {})
        m["daemon"] = {"interval": snap}
    return m


def _attach_interval_daemon(
    n3, cppyy, spec: RunSpec, ring_path: str, state: dict, stop_s: float
) -> None:
    """The real IntervalLoop, stepped every millisecond of simulated time; a
    record is seen latency_us after its interval ended."""
    from aqmllm.bridge.ring import Ring
    from aqmllm.daemon.interval_loop import IntervalLoop
    from aqmllm.daemon.interval_policies import parse_spec

    policy = parse_spec(spec.aqm[len(INTERVAL_PREFIX) :])
    latency_ns = int(spec.latency_us * 1000)

    def tick(now_s: float) -> None:
        now_ns = int(now_s * 1e9)
        if "interval" not in state:
            if not Path(ring_path).exists():
                return
            state["interval"] = IntervalLoop(Ring.open_shm(ring_path), policy)
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
