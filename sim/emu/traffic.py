"""Real traffic for the emulator: iperf3 TCP/UDP flows and a ping probe.

Servers run in the receiver namespace (one per flow, its own address and
port), clients in the sender namespace; nothing leaves the namespaces.
:class:`Flows` starts any spec with ``server_cmd``/``client_cmd``/``parse``
and ``listen_proto``: iperf3 (:class:`FlowSpec`) and the Prague-like UDP
sender (:class:`aqmllm.sim.emu.prague.PragueSpec`).
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from aqmllm.sim.emu.topology import EmuError, EmuTopology, ecn_codepoint

TCP_CCS = ("cubic", "reno", "bbr", "dctcp")
TOS = {"not-ect": 0x00, "ect1": 0x01, "ect0": 0x02}
__all__ = ["TOS", "TCP_CCS", "ecn_codepoint", "FlowSpec", "FlowResult", "Flows", "Ping"]
UDP_PAYLOAD = 1200  # bytes per iperf3 datagram: 1228 on the wire with IPv4 + UDP headers


def available_ccs() -> list[str]:
    p = Path("/proc/sys/net/ipv4/tcp_available_congestion_control")
    return p.read_text().split() if p.exists() else []


@dataclass
class FlowSpec:
    """One iperf3 test: TCP with a congestion control, or UDP at a rate."""

    addr: str
    port: int
    seconds: float
    cc: str = "cubic"
    udp_mbps: float = 0.0
    tos: str = "not-ect"
    parallel: int = 1
    start_s: float = 0.0
    label: str = ""
    udp_len: int = UDP_PAYLOAD  # datagram payload bytes

    def __post_init__(self) -> None:
        if not 64 <= self.udp_len <= 1472:
            raise EmuError(f"flow {self.label or self.port}: udp_len {self.udp_len} not in 64-1472")
        if self.udp_mbps <= 0 and self.cc not in TCP_CCS:
            raise EmuError(
                f"flow {self.label or self.port}: unknown congestion control {self.cc!r}"
            )
        if self.udp_mbps <= 0 and self.cc not in available_ccs():
            raise EmuError(
                f"flow {self.label or self.port}: this kernel has no {self.cc} congestion"
                f" control (tcp_available_congestion_control: {' '.join(available_ccs())})"
            )
        if self.tos not in TOS:
            raise EmuError(f"flow {self.label or self.port}: tos {self.tos!r} not in {list(TOS)}")
        if self.seconds < 1:
            raise EmuError(f"flow {self.label or self.port}: iperf3 needs at least 1 s")

    @property
    def udp(self) -> bool:
        return self.udp_mbps > 0

    listen_proto = "tcp"  # iperf3's control connection, UDP tests too

    def server_cmd(self) -> list[str]:
        return ["iperf3", "-s", "-1", "-B", self.addr, "-p", str(self.port), "-J"]

    def parse(self, client_out: str, server_out: str, stderr: str = "") -> FlowResult:
        return parse_iperf(self, client_out, server_out, stderr)

    def client_cmd(self, interval_s: float = 0.5) -> list[str]:
        cmd = [
            "iperf3",
            "-c",
            self.addr,
            "-p",
            str(self.port),
            "-J",
            "-i",
            str(interval_s),
            "-t",
            f"{self.seconds:.3f}",
            "-P",
            str(self.parallel),
        ]
        if self.udp:
            cmd += [
                "-u",
                "-b",
                f"{self.udp_mbps / self.parallel:.4f}M",
                "-l",
                str(self.udp_len),
                "--tos",
                str(TOS[self.tos]),
            ]
        else:
            cmd += ["-C", self.cc]
        return cmd


class TrafficSpec(Protocol):
    """What :class:`Flows` needs of a flow: where it listens, its two commands, its parser."""

    addr: str
    port: int
    seconds: float
    start_s: float
    label: str
    listen_proto: str

    def server_cmd(self) -> list[str]: ...
    def client_cmd(self) -> list[str]: ...
    def parse(self, client_out: str, server_out: str, stderr: str = "") -> FlowResult: ...


@dataclass
class FlowResult:
    spec: Any  # a TrafficSpec
    rx_bytes: int
    seconds: float
    intervals_mbps: list[float] = field(default_factory=list)
    retransmits: int = 0
    lost_packets: int = 0
    error: str = ""

    def longest_silence_s(self, interval_s: float = 0.5) -> float:
        """The longest run of receiver intervals without data (a stall)."""
        best = run = 0
        for v in self.intervals_mbps:
            run = run + 1 if v <= 0 else 0
            best = max(best, run)
        return best * interval_s

    @property
    def goodput_mbps(self) -> float:
        return self.rx_bytes * 8 / max(self.seconds, 1e-9) / 1e6

    @property
    def settled_mbps(self) -> float:
        """The median receiver interval after the first: the rate once slow start
        is over, which one host stall in a short run does not drag down."""
        rest = sorted(self.intervals_mbps[1:])
        return rest[len(rest) // 2] if rest else self.goodput_mbps


class Flows:
    """Start servers, then clients at their start times; collect results."""

    def __init__(self, topo: EmuTopology, specs: list[Any]) -> None:
        self.topo = topo
        self.specs = specs
        self.servers: list[subprocess.Popen[str]] = []
        self.clients: list[subprocess.Popen[str] | None] = [None] * len(specs)
        self.t0 = 0.0

    def start_servers(self) -> None:
        for s in self.specs:
            self.servers.append(self.topo.popen(self.topo.ns_dst, *s.server_cmd()))
        want = {(s.listen_proto, f"{s.addr}:{s.port}") for s in self.specs}
        end = time.monotonic() + 10
        while time.monotonic() < end:
            out = {
                proto: self.topo.exec(self.topo.ns_dst, "ss", f"-Hl{proto[0]}n").stdout
                for proto in {p for p, _ in want}
            }
            if all(w in out[p] for p, w in want):
                return
            if any(srv.poll() is not None for srv in self.servers):
                break
            time.sleep(0.05)
        dead = [
            s.label or str(s.port)
            for s, p in zip(self.specs, self.servers, strict=True)
            if p.poll() is not None
        ]
        raise EmuError(
            "flow servers did not start listening within 10 s"
            + (f" (exited: {', '.join(dead)})" if dead else "")
        )

    def start(self, pump: Any = None) -> None:
        """Servers up, then each client at t0 + start_s; pump() is called while waiting."""
        self.start_servers()
        self.t0 = time.monotonic()
        self.start_clients(pump)

    def start_clients(self, pump: Any = None) -> None:
        """Each client at t0 + start_s (t0: now, unless the caller set it)."""
        if not self.t0:
            self.t0 = time.monotonic()
        order = sorted(range(len(self.specs)), key=lambda i: self.specs[i].start_s)
        for i in order:
            while time.monotonic() < self.t0 + self.specs[i].start_s:
                if pump is not None:
                    pump()
                time.sleep(0.005)
            self.clients[i] = self.topo.popen(self.topo.ns_src, *self.specs[i].client_cmd())

    def wait(self, timeout: float) -> list[FlowResult]:
        results = []
        for spec, client, server in zip(self.specs, self.clients, self.servers, strict=True):
            assert client is not None
            try:
                cout, cerr = client.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                client.kill()
                cout, cerr = client.communicate()
            try:
                sout, _ = server.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                sout, _ = server.communicate()
            results.append(spec.parse(cout, sout, cerr))
        return results


def parse_iperf(spec: FlowSpec, client_json: str, server_json: str, stderr: str = "") -> FlowResult:
    """Received bytes from the server's report; interval rates from the client's."""
    try:
        cj = json.loads(client_json)
    except ValueError:
        return FlowResult(spec, 0, spec.seconds, error=f"iperf3 client: {stderr.strip()[:300]}")
    if "error" in cj:
        return FlowResult(spec, 0, spec.seconds, error=f"iperf3: {cj['error']}")
    end = cj.get("end", {})
    intervals: list[float] = []
    rx = 0
    secs = spec.seconds
    lost = 0
    try:
        sj = json.loads(server_json)
        send = sj.get("end", {})
        summ = send.get("sum_received") or send.get("sum") or {}
        rx = int(summ.get("bytes", 0))
        secs = float(summ.get("seconds", secs)) or secs
        lost = int(summ.get("lost_packets", 0))
        # Receiver-side rates, whole intervals only (the last may be a sliver).
        intervals = [
            iv["sum"]["bits_per_second"] / 1e6
            for iv in sj.get("intervals", [])
            if iv["sum"]["seconds"] >= 0.25
        ]
    except ValueError:
        summ = end.get("sum_received") or end.get("sum") or {}
        rx = int(summ.get("bytes", 0))
    retrans = int(end.get("sum_sent", {}).get("retransmits", 0) or 0)
    return FlowResult(spec, rx, secs, intervals, retrans, lost)


_RTT = re.compile(r"time=([0-9.]+) ms")


class Ping:
    """A ping probe from the sender namespace (Not-ECT, so the Classic queue)."""

    def __init__(self, topo: EmuTopology, addr: str, seconds: float, interval_s: float = 0.05):
        self.proc = topo.popen(
            topo.ns_src, "ping", "-n", "-i", str(interval_s), "-w", f"{seconds:.0f}", addr
        )

    def rtts_ms(self, timeout: float = 60) -> list[float]:
        try:
            out, _ = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, _ = self.proc.communicate()
        return [float(m) for m in _RTT.findall(out)]
