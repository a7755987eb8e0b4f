"""Network namespaces around the emulated router.

    [ns src: 10.77.1.1]--aqa--(router: core AQM, rate, delay)--aqb--[ns dst: 10.77.2.1]

The router process owns both TUN devices and moves nothing itself: this
harness creates two namespaces with unique names, moves one TUN into each,
addresses them and routes the peer subnet through them.  Everything is
removed again on exit; no packet leaves the two namespaces.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ROUTER = ROOT / "build" / "aqmllm-emu-router"
SRC_IP, DST_IP = "10.77.1.1", "10.77.2.1"


class EmuError(RuntimeError):
    """The emulator cannot run here, or a step of it failed."""


def missing_prerequisites() -> str | None:
    """Why the emulator cannot run on this machine, or None."""
    if os.geteuid() != 0:
        return "needs root (network namespaces and TUN devices)"
    if not Path("/dev/net/tun").exists():
        return "no /dev/net/tun"
    if shutil.which("ip") is None:
        return "iproute2 (ip) is not installed"
    probe = f"aqmprobe{uuid.uuid4().hex[:6]}"
    res = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if res.returncode != 0:
        return f"cannot create network namespaces: {res.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


def _run(*cmd: str) -> None:
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        raise EmuError(f"{' '.join(cmd)}: {res.stderr.strip() or res.returncode}")


@dataclass
class EmuTopology:
    rate_mbps: float
    delay_ms: float
    limit: int = 1000
    fallback: str = "dualpi2"
    ring: str | None = None
    entries: int = 16384
    workdir: Path = field(default_factory=lambda: Path("/tmp"))
    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:6])

    def __post_init__(self) -> None:
        self.ns_src, self.ns_dst = f"aqmsrc{self.tag}", f"aqmdst{self.tag}"
        self.tun_in, self.tun_out = f"aqa{self.tag}", f"aqb{self.tag}"
        self.log_path = self.workdir / f"emu-{self.tag}.bin"
        self.stats_path = self.workdir / f"emu-{self.tag}.json"
        self.router: subprocess.Popen[str] | None = None

    def exec(self, ns: str, *cmd: str, **kw) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["ip", "netns", "exec", ns, *cmd], capture_output=True,
                              text=True, **kw)

    def popen(self, ns: str, *cmd: str) -> subprocess.Popen[str]:
        return subprocess.Popen(["ip", "netns", "exec", ns, *cmd], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

    def __enter__(self) -> EmuTopology:
        why = missing_prerequisites()
        if why:
            raise EmuError(f"the emulator cannot run here: {why}")
        if not ROUTER.exists():
            raise EmuError(f"{ROUTER} is missing: run `make emu-router`")
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def _start(self) -> None:
        _run("ip", "netns", "add", self.ns_src)
        _run("ip", "netns", "add", self.ns_dst)
        cmd = [str(ROUTER), "--in", self.tun_in, "--out", self.tun_out,
               "--rate-mbps", str(self.rate_mbps), "--delay-ms", str(self.delay_ms / 2),
               "--limit", str(self.limit), "--fallback", self.fallback,
               "--log", str(self.log_path), "--stats", str(self.stats_path),
               "--entries", str(self.entries)]
        if self.ring:
            cmd += ["--ring", self.ring]
        self.router = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                       text=True)
        assert self.router.stdout is not None
        if self.router.stdout.readline().strip() != "ready":
            raise EmuError(f"router failed to start: {self.router.stderr.read()}")
        for ns, dev, ip, peer in ((self.ns_src, self.tun_in, SRC_IP, "10.77.2.0/24"),
                                  (self.ns_dst, self.tun_out, DST_IP, "10.77.1.0/24")):
            _run("ip", "link", "set", dev, "netns", ns)
            _run("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")
            _run("ip", "netns", "exec", ns, "ip", "addr", "add", f"{ip}/24", "dev", dev)
            _run("ip", "netns", "exec", ns, "ip", "link", "set", dev, "up")
            _run("ip", "netns", "exec", ns, "ip", "route", "add", peer, "dev", dev)
            for key, value in (("net.ipv4.tcp_ecn", "1"), ("net.ipv4.tcp_no_metrics_save", "1")):
                self.exec(ns, "sysctl", "-qw", f"{key}={value}")

    def stop_router(self) -> dict:
        import json

        if self.router is not None and self.router.poll() is None:
            self.router.send_signal(signal.SIGTERM)
            try:
                self.router.wait(10)
            except subprocess.TimeoutExpired:
                self.router.kill()
        try:
            return json.loads(self.stats_path.read_text())
        except (OSError, ValueError):
            return {}

    def close(self) -> None:
        self.stop_router()
        for ns in (self.ns_src, self.ns_dst):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        time.sleep(0.05)

    def __exit__(self, *exc: object) -> None:
        self.close()
