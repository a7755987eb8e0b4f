"""Web traffic for the emulator: finite TCP transfers from a schedule, with flow completion times.

``build/aqmllm-web-server`` (sim/emu/web_server.c) listens in the receiver
namespace; ``build/aqmllm-web-client`` (web_client.c) in the sender
namespace opens one connection per scheduled transfer, at its start time,
with its source's congestion control (TCP_CONGESTION), writes its bytes,
and closes cleanly (its FIN, then the server's).  Each source (a scenario
flow entry) has its own receiver address, hence its own RTT and ECN
(the route's ``ecn`` feature; ECT(1) by the nftables rewrite, see
:class:`aqmllm.sim.emu.topology.Host`).

Flow completion time (FCT), the definition ns-3 is aligned to:

    FCT = t(the receiving application has read the transfer's last byte)
        - t(the sending application calls connect())

both on the one host's CLOCK_MONOTONIC.  It includes the SYN/SYN-ACK round
trip, so an unloaded transfer that fits in the initial window takes 1.5
RTT plus its serialisation.  In ns-3: from the time the sender
application's socket Connect()s (the scheduled start) to the time the
sink's Rx trace has delivered the transfer's size in bytes.  The client
and server run SCHED_FIFO (below the router), so the timestamps are the
network's, not the scheduler's; the start lateness (connect - scheduled
start) is reported.

Why C, not Python asyncio: an FCT of a 15 kB transfer at 10 ms RTT is about
15 ms, and on this loaded two-core machine a Python event loop is woken
milliseconds late (and a GC pause or another process's burst adds more),
which would be a bias of the same order as the AQM effects we measure; the C
pair costs microseconds per event at thousands of transfers per second.

Size buckets (RFC 7928 style): <= 15 kB, <= 150 kB, larger (kB = 1000 bytes).
"""

from __future__ import annotations

import json
import math
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from aqmllm.sim.emu.prague import GEN_RT_PRIORITY
from aqmllm.sim.emu.topology import ROOT, EmuError, EmuTopology, ecn_codepoint

WEB_CLIENT = ROOT / "build" / "aqmllm-web-client"
WEB_SERVER = ROOT / "build" / "aqmllm-web-server"
WEB_PORT = 8080
WEB_HDR = 12  # bytes of header inside every transfer (sim/emu/web_wire.h)
BUCKETS = ((15_000, "<=15kB"), (150_000, "<=150kB"), (math.inf, ">150kB"))


@dataclass
class WebSource:
    """One source of web transfers: its receiver address, Linux CC, ECN codepoint, schedule."""

    label: str
    addr: str
    cc: str
    ecn: str
    transfers: list[tuple[float, int]]  # (start_s, size_bytes)

    def __post_init__(self) -> None:
        self.ecn = ecn_codepoint(self.ecn)
        for start, size in self.transfers:
            if not (start >= 0 and isinstance(size, int) and 0 < size < 2**32):
                raise EmuError(
                    f"web source {self.label}: transfer ({start}, {size}) needs start_s >= 0"
                    " and 1 <= size_bytes < 2^32"
                )

    @property
    def klass(self) -> str:
        return f"{self.cc}/{self.ecn}"


@dataclass
class WebTransfer:
    """One finished (or failed) transfer, client and server records joined."""

    id: int
    source: str
    klass: str
    size: int
    start_s: float  # scheduled, since t0
    lateness_s: float  # connect() - scheduled start
    fct_s: float  # nan when it failed
    ecn_negotiated: bool
    retrans: int
    error: str = ""

    @property
    def bucket(self) -> str:
        return next(name for limit, name in BUCKETS if self.size <= limit)


@dataclass
class WebLoad:
    """The web client and server of one run; start() at the scenario's t0, then wait()."""

    topo: EmuTopology
    sources: list[WebSource]
    workdir: Path
    deadline_s: float | None = None
    port: int = WEB_PORT
    rt_priority: int = GEN_RT_PRIORITY
    _ids: dict[int, tuple[WebSource, float, int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.topo.tcp_ecn != 2 and any(s.ecn == "not-ect" for s in self.sources):
            raise EmuError(
                "Not-ECT web sources need EmuTopology(tcp_ecn=2): with 1 every connection"
                " from the sender namespace asks for ECN, whatever its route says"
            )
        for b in (WEB_CLIENT, WEB_SERVER):
            if not b.exists():
                raise EmuError(f"{b} is missing: run `make emu-gens`")
        self.workdir = Path(self.workdir)
        tag = self.topo.tag
        self.schedule_path = self.workdir / f"web-{tag}.sched"
        self.client_out = self.workdir / f"web-{tag}-client.jsonl"
        self.server_out = self.workdir / f"web-{tag}-server.jsonl"
        self.server: subprocess.Popen[str] | None = None
        self.client: subprocess.Popen[str] | None = None

    def write_schedule(self) -> int:
        lines = ["# id start_s size_bytes dst port cc"]
        n = 0
        for src in self.sources:
            for start, size in src.transfers:
                self._ids[n] = (src, start, size)
                lines.append(f"{n} {start:.6f} {size} {src.addr} {self.port} {src.cc}")
                n += 1
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.schedule_path.write_text("\n".join(lines) + "\n")
        return n

    def start_server(self) -> None:
        self.server = self.topo.popen(
            self.topo.ns_dst,
            str(WEB_SERVER),
            "--port",
            str(self.port),
            "--out",
            str(self.server_out),
            "--rt-priority",
            str(self.rt_priority),
        )
        assert self.server.stdout is not None
        line = self.server.stdout.readline()
        if '"ready"' not in line:
            _, err = self.server.communicate(timeout=5)
            raise EmuError(f"the web server did not start: {err.strip()[:300]}")

    def start(self, t0_monotonic_s: float) -> None:
        """Server up (if not yet), then the client with every start time relative to t0."""
        self.write_schedule()
        if self.server is None:
            self.start_server()
        cmd = [
            str(WEB_CLIENT),
            "--schedule",
            str(self.schedule_path),
            "--t0-ns",
            str(int(t0_monotonic_s * 1e9)),
            "--out",
            str(self.client_out),
            "--rt-priority",
            str(self.rt_priority),
        ]
        if self.deadline_s is not None:
            cmd += ["--deadline-s", f"{self.deadline_s:.3f}"]
        self.client = self.topo.popen(self.topo.ns_src, *cmd)

    def wait(self, timeout: float) -> list[WebTransfer]:
        """Every scheduled transfer, finished or with its error (the deadline ends the rest)."""
        assert self.client is not None and self.server is not None
        try:
            _, cerr = self.client.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.client.kill()
            _, cerr = self.client.communicate()
        self.server.terminate()
        try:
            self.server.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.server.kill()
            self.server.communicate()
        if self.client.returncode not in (0, -9):
            raise EmuError(f"the web client failed: {cerr.strip()[:300]}")
        t0_ns = int(self._t0_ns())
        return join_records(
            _read_jsonl(self.client_out), _read_jsonl(self.server_out), self._ids, t0_ns
        )

    def _t0_ns(self) -> int:
        assert self.client is not None
        args = self.client.args
        return int(args[args.index("--t0-ns") + 1])


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    out = []
    try:
        text = path.read_text()
    except FileNotFoundError:
        return []
    for line in text.splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


def join_records(
    client: list[dict[str, Any]],
    server: list[dict[str, Any]],
    ids: dict[int, tuple[WebSource, float, int]],
    t0_ns: int,
) -> list[WebTransfer]:
    """Client and server lines by transfer id; FCT = server's last byte read - client's connect."""
    by_id = {}
    for s in server:
        if not s.get("error") and int(s.get("id", -1)) in ids:
            by_id[int(s["id"])] = s
    out = []
    for c in client:
        i = int(c["id"])
        if i not in ids:
            continue
        src, start, size = ids[i]
        s = by_id.get(i)
        err = str(c.get("error", ""))
        if not err and s is None:
            err = "the server has no complete record of it"
        connect = int(c.get("connect_ns", 0))
        fct = (int(s["last_ns"]) - connect) / 1e9 if s is not None and not err else math.nan
        out.append(
            WebTransfer(
                i,
                src.label,
                src.klass,
                max(size, WEB_HDR),
                start,
                (connect - t0_ns) / 1e9 - start if connect else math.nan,
                fct,
                bool(c.get("ecn", 0)),
                int(c.get("retrans", 0)),
                err,
            )
        )
    return sorted(out, key=lambda t: t.id)


def fct_summary(transfers: list[WebTransfer]) -> dict[str, Any]:
    """FCT median and p99 (ms) per size bucket, per class (cc/ecn) and per source."""

    def stats(ts: list[WebTransfer]) -> dict[str, Any]:
        ok = np.array([t.fct_s for t in ts if not t.error]) * 1e3
        d: dict[str, Any] = {"n": int(len(ok)), "failed": sum(1 for t in ts if t.error)}
        if len(ok):
            d["median_ms"] = float(np.median(ok))
            d["p99_ms"] = float(np.percentile(ok, 99))
        return d

    def by_bucket(ts: list[WebTransfer]) -> dict[str, Any]:
        out = {"all": stats(ts)}
        for _, name in BUCKETS:
            sel = [t for t in ts if t.bucket == name]
            if sel:
                out[name] = stats(sel)
        return out

    lateness = [t.lateness_s for t in transfers if not math.isnan(t.lateness_s)]
    return {
        "definition": "connect() to the server application's read of the last byte",
        "all": by_bucket(transfers),
        "by_class": {
            k: by_bucket([t for t in transfers if t.klass == k])
            for k in sorted({t.klass for t in transfers})
        },
        "by_source": {
            k: by_bucket([t for t in transfers if t.source == k])
            for k in sorted({t.source for t in transfers})
        },
        "start_lateness_ms": {
            "p50": float(np.median(lateness) * 1e3) if lateness else math.nan,
            "max": float(max(lateness) * 1e3) if lateness else math.nan,
        },
        "ecn_negotiated": sum(t.ecn_negotiated for t in transfers if not t.error),
    }
