"""Latency under load: an isochronous probe's round-trip times during an emulated run.

irtt (Debian ``irtt``) sends a small UDP packet every 10 ms and times each
reply; its ``--dscp`` sets the whole TOS byte, so the probe can ride either
queue: Not-ECT for the Classic queue, ECT(1) for the L queue (marks on
it are ignored: it is not congestion-controlled, and at 100 packets of
~60 bytes a second it loads no link).  Without irtt, ping stands in for the
Classic probe.  The probe goes to one flow's receiver address, so its RTT is
that flow's base RTT plus the queue.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np
from aqmllm.sim.emu.topology import EmuError, EmuTopology
from aqmllm.sim.emu.traffic import TOS, Ping

IRTT_PORT = 2112
INTERVAL_S = 0.01


def have_irtt() -> bool:
    return shutil.which("irtt") is not None


def summarize(rtts_ms: list[float], lost: int, tool: str, codepoint: str) -> dict[str, Any]:
    """RTT percentiles of one probe (ms); lost = probes without a reply."""
    out: dict[str, Any] = {"tool": tool, "codepoint": codepoint, "n": len(rtts_ms), "lost": lost}
    if rtts_ms:
        r = np.asarray(rtts_ms)
        p = np.percentile(r, [1, 50, 90, 99])
        out.update(
            {
                "min_ms": float(r.min()),
                "p1_ms": float(p[0]),
                "p50_ms": float(p[1]),
                "p90_ms": float(p[2]),
                "p99_ms": float(p[3]),
                "max_ms": float(r.max()),
                "mean_ms": float(r.mean()),
            }
        )
    return out


class LatencyProbe:
    """One probe from the sender namespace to ``addr`` for ``seconds``; result() when done."""

    def __init__(
        self,
        topo: EmuTopology,
        addr: str,
        seconds: float,
        workdir: Path,
        codepoint: str = "not-ect",
        port: int = IRTT_PORT,
    ) -> None:
        self.codepoint = codepoint
        self.seconds = seconds
        self.ping: Ping | None = None
        self.client: subprocess.Popen[str] | None = None
        if not have_irtt():
            if codepoint != "not-ect":
                raise ValueError("an ECT probe needs irtt (make emu-deps installs it)")
            self.ping = Ping(topo, addr, seconds, INTERVAL_S * 5)
            return
        self.out = Path(workdir) / f"irtt-{topo.tag}-{codepoint}-{port}.json"
        self.server = topo.popen(
            topo.ns_dst, "irtt", "server", "-b", f"{addr}:{port}", "-i", "0", "--timeout=0"
        )
        self.topo, self.addr, self.port = topo, addr, port

    def start(self) -> None:
        """The client, once the server listens (irtt gives up on a refused first packet)."""
        if self.ping is not None:
            return
        end = time.monotonic() + 5
        while (
            f"{self.addr}:{self.port}" not in self.topo.exec(self.topo.ns_dst, "ss", "-Hlun").stdout
        ):
            if time.monotonic() > end or self.server.poll() is not None:
                raise EmuError(f"the irtt server did not start on {self.addr}:{self.port}")
            time.sleep(0.02)
        self.client = self.topo.popen(
            self.topo.ns_src,
            "irtt",
            "client",
            "-i",
            f"{int(INTERVAL_S * 1000)}ms",
            "-d",
            f"{self.seconds:.3f}s",
            "-l",
            "64",
            f"--dscp={TOS[self.codepoint]}",
            "--wait=500ms",
            "--timeouts=200ms,400ms,800ms,1600ms",
            "-Q",
            "-o",
            str(self.out),
            f"{self.addr}:{self.port}",
        )

    def result(self, timeout: float = 60) -> dict[str, Any]:
        if self.ping is not None:
            rtts = self.ping.rtts_ms(timeout)
            sent = int(self.seconds / (INTERVAL_S * 5))
            return summarize(rtts, max(0, sent - len(rtts)), "ping", "not-ect")
        assert self.client is not None
        try:
            _, err = self.client.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.client.kill()
            _, err = self.client.communicate()
        try:
            data = json.loads(self.out.read_text())
        except (OSError, ValueError):
            return {**summarize([], 0, "irtt", self.codepoint), "error": err.strip()[:300]}
        return parse_irtt(data, self.codepoint)


def parse_irtt(data: dict[str, Any], codepoint: str) -> dict[str, Any]:
    """RTTs (ms) of the replies received, from irtt's JSON output."""
    rtts, lost = [], 0
    for rt in data.get("round_trips", []):
        if rt.get("lost", "false") != "false":
            lost += 1
            continue
        rtt = rt.get("delay", {}).get("rtt")
        if isinstance(rtt, (int, float)):
            rtts.append(rtt / 1e6)
    return summarize(rtts, lost, "irtt", codepoint)
