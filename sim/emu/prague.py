"""L4S traffic for the emulator: the Prague-like UDP sender and its receiver.

This kernel has no DCTCP or TCP Prague, so scalable (L4S) flows run as
``build/aqmllm-prague-send`` (sim/emu/prague_send.c, controller in
prague_cc.c): ECT(1) on every data packet, AccECN-like cumulative CE
feedback from ``aqmllm-prague-recv``, alpha EWMA with gain 1/16, cwnd cut by
alpha/2 at most once per round, one segment of additive increase per round
(RTT-independent below 25 ms), pacing, RACK-like loss detection with a
classic halving, RTO.  A :class:`PragueSpec` is started by
:class:`aqmllm.sim.emu.traffic.Flows` like an iperf3 flow: the receiver in
the receiver namespace, the sender at its start time.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from aqmllm.sim.emu.topology import ROOT, EmuError
from aqmllm.sim.emu.traffic import TOS, FlowResult

PRAGUE_SEND = ROOT / "build" / "aqmllm-prague-send"
PRAGUE_RECV = ROOT / "build" / "aqmllm-prague-recv"
PRAGUE_MSS = 1200  # payload bytes per datagram: 1228 on the wire, as the iperf3 UDP flows
# Below the router's SCHED_FIFO priority (10): the generators' timestamps and
# pacing are the network's, not the scheduler's, and the router still runs first.
GEN_RT_PRIORITY = 5


def missing_binaries() -> str | None:
    for b in (PRAGUE_SEND, PRAGUE_RECV):
        if not b.exists():
            return f"{b} is missing: run `make emu-gens`"
    return None


@dataclass
class PragueSpec:
    """One Prague-like flow: a sender in the source namespace, a receiver on addr:port."""

    addr: str
    port: int
    seconds: float
    ecn: str = "ect1"
    start_s: float = 0.0
    label: str = ""
    rtt_ref_ms: float = 25.0
    report_ms: int = 100
    mss: int = PRAGUE_MSS
    pacing_credit: int = 1  # packets a late timer may catch up back to back (not after a cwnd wait)
    # receiver-side impairments, for tests of the sender
    drop: float = 0.0
    reorder: float = 0.0
    reorder_depth: int = 3
    seed: int = 1
    rt_priority: int = GEN_RT_PRIORITY
    listen_proto = "udp"

    def __post_init__(self) -> None:
        if self.ecn not in TOS:
            raise EmuError(f"flow {self.label or self.port}: ecn {self.ecn!r} not in {list(TOS)}")
        if self.seconds < 0.5:
            raise EmuError(f"flow {self.label or self.port}: a Prague flow needs at least 0.5 s")
        why = missing_binaries()
        if why:
            raise EmuError(why)

    def server_cmd(self) -> list[str]:
        cmd = [
            str(PRAGUE_RECV),
            "--bind",
            self.addr,
            "--port",
            str(self.port),
            "--idle-timeout-s",
            "10",
            "--rt-priority",
            str(self.rt_priority),
            "--seed",
            str(self.seed),
        ]
        if self.drop:
            cmd += ["--drop", str(self.drop)]
        if self.reorder:
            cmd += ["--reorder", str(self.reorder), "--reorder-depth", str(self.reorder_depth)]
        return cmd

    def client_cmd(self) -> list[str]:
        return [
            str(PRAGUE_SEND),
            "--dst",
            self.addr,
            "--port",
            str(self.port),
            "--seconds",
            f"{self.seconds:.3f}",
            "--ecn",
            self.ecn,
            "--mss",
            str(self.mss),
            "--rtt-ref-ms",
            str(self.rtt_ref_ms),
            "--report-ms",
            str(self.report_ms),
            "--pacing-credit",
            str(self.pacing_credit),
            "--rt-priority",
            str(self.rt_priority),
        ]

    def parse(self, client_out: str, server_out: str, stderr: str = "") -> FlowResult:
        return parse_prague(self, client_out, server_out, stderr)


@dataclass
class PragueResult(FlowResult):
    """A Prague flow's result: the receiver's counts, the sender's summary and trace."""

    sender: dict[str, Any] = field(default_factory=dict)
    receiver: dict[str, Any] = field(default_factory=dict)
    trace: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ce_fraction(self) -> float:
        return float(self.receiver.get("ce_fraction", 0.0))


def _json_lines(text: str) -> list[dict[str, Any]]:
    out = []
    for line in text.splitlines():
        try:
            v = json.loads(line)
        except ValueError:
            continue
        if isinstance(v, dict):
            out.append(v)
    return out


def parse_prague(
    spec: PragueSpec, client_out: str, server_out: str, stderr: str = ""
) -> FlowResult:
    """Received bytes from the receiver's summary; cwnd/alpha trace from the sender's lines."""
    sender = _json_lines(client_out)
    receiver = _json_lines(server_out)
    s_sum = next((x for x in sender if x.get("summary")), None)
    r_sum = next((x for x in receiver if x.get("summary")), None)
    if s_sum is None or r_sum is None:
        who = "sender" if s_sum is None else "receiver"
        return FlowResult(spec, 0, spec.seconds, error=f"prague {who}: {stderr.strip()[:300]}")  # type: ignore[arg-type]
    trace = [x for x in sender if "t" in x and "cwnd" in x]
    # Receiver-side rates over half-second intervals from the sender's 100 ms lines.
    intervals: list[float] = []
    per = max(1, round(500 / spec.report_ms))
    for i in range(0, len(trace) - per + 1, per):
        intervals.append(sum(x["delivered_mbps"] for x in trace[i : i + per]) / per)
    return PragueResult(
        spec,  # type: ignore[arg-type]
        int(r_sum["rx_bytes"]),
        float(s_sum["seconds"]) or spec.seconds,
        intervals,
        0,
        int(s_sum["lost_pkts"]),
        sender=s_sum,
        receiver=r_sum,
        trace=trace,
    )
