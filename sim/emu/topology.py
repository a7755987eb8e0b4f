"""Network namespaces around the emulated router.

    [ns src: 10.77.1.1]--tun A--(emu router: core AQM, rate, delay)--tun B--[ns dst]
                                                          10.77.2.1, 10.77.2.10+i (one per flow)

The router process creates both TUN devices in the caller's namespace; this
harness creates two namespaces with unique names, moves one TUN into each
(before any address exists on them), addresses and routes the peer subnet
through them.  Each flow gets its own receiver address so the router can
give it its own propagation delay and the sender its own ECN setting (route
feature ``ecn``).  Everything is removed on close and, should the process
die first, at interpreter exit; no packet leaves the two namespaces.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import signal
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aqmllm.bridge import layout

ROOT = Path(__file__).resolve().parents[2]
ROUTER = ROOT / "build" / "aqmllm-emu-router"
SRC_IP, DST_IP = "10.77.1.1", "10.77.2.1"
SRC_NET, DST_NET = "10.77.1.0/24", "10.77.2.0/24"
FALLBACKS = tuple(layout.FALLBACKS)

_live: set[EmuTopology] = set()
_live_lock = threading.Lock()


class EmuError(RuntimeError):
    """The emulator cannot run here, or a step of it failed."""


def host_ip(i: int) -> str:
    """The receiver address of flow i (its own delay and ECN route)."""
    if not 0 <= i < 64:
        raise EmuError(f"flow index {i}: the emulator supports 64 flows at most")
    return f"10.77.2.{10 + i}"


def missing_prerequisites(need_iperf: bool = True) -> str | None:
    """Why the emulator cannot run on this machine, or None."""
    if os.geteuid() != 0:
        return "needs root (network namespaces and TUN devices)"
    if not Path("/dev/net/tun").exists():
        return "no /dev/net/tun (TUN support missing)"
    for tool in ("ip", *(("iperf3", "ping") if need_iperf else ())):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (make emu-deps installs it from Debian)"
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


ECN_CODEPOINTS = ("not-ect", "ect0", "ect1")


def ecn_codepoint(value: bool | str) -> str:
    """A flow's ``ecn`` as a codepoint: true/false mean ECT(0)/Not-ECT, as for TCP today."""
    if isinstance(value, bool):
        return "ect0" if value else "not-ect"
    if value not in ECN_CODEPOINTS:
        raise EmuError(f"ecn {value!r}: choose from {', '.join(ECN_CODEPOINTS)} (or true/false)")
    return value


@dataclass
class Host:
    """One receiver address with its one-way delay and the ECN codepoint of TCP to it.

    Linux decides ECN per connection from the route: ``ect0`` puts the
    ``ecn`` feature on the route to this address (RFC 3168 ECN negotiated,
    data sent ECT(0)); ``ect1`` also rewrites that TCP's ECT(0) to ECT(1)
    on the way out (an nftables rule in the sender namespace), since Linux
    TCP sends ECT(1) only with a congestion control that asks for it (TCP
    Prague, absent here): a classic-responding TCP in the L queue.  UDP
    sets its own codepoint (IP_TOS) and is not touched.
    """

    addr: str
    delay_us: int
    ecn: bool | str = False

    def __post_init__(self) -> None:
        self.ecn = ecn_codepoint(self.ecn)

    @property
    def tcp_ecn(self) -> bool:
        return self.ecn != "not-ect"


@dataclass(eq=False)
class EmuTopology:
    rate_bps: int
    delay_us: int = 10_000
    hosts: list[Host] = field(default_factory=list)
    limit: int = 1000
    fallback: str = "dualpi2"
    ring: str | None = None
    ring_entries: int = 16384
    verdict_timeout_us: int = 0
    export: str = "both"  # what the ring exports: packets, intervals or both
    interval_us: int = 0  # interval records' length; 0: the fallback's Tupdate
    workdir: Path = field(default_factory=lambda: Path("/tmp"))
    log: bool = True
    tcp_ecn: int = 1
    # SCHED_FIFO priority for the router (0: normal); the router checks the
    # range and, without root, warns and runs at normal priority.
    rt_priority: int = 10
    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:6])

    def __post_init__(self) -> None:
        if self.fallback not in FALLBACKS:
            raise EmuError(f"fallback {self.fallback!r}: choose from {', '.join(FALLBACKS)}")
        if self.rate_bps < 1000:
            raise EmuError(f"rate {self.rate_bps} bit/s is below 1 kbit/s")
        self.ns_src, self.ns_dst = f"aqmsrc{self.tag}", f"aqmdst{self.tag}"
        self.tun_a, self.tun_b = f"aqa{self.tag}", f"aqb{self.tag}"
        self.workdir = Path(self.workdir)
        self.log_path = self.workdir / f"emu-{self.tag}.evlog"
        # The router writes its statistics from its packet loop whenever
        # asked: on tmpfs in microseconds, while a disk's journal can hold the
        # write for tens of ms (a soak saw a 28 ms stats write idle the link).
        # The last dump is kept in the workdir when the router stops.
        self.final_stats_path = self.workdir / f"emu-{self.tag}.json"
        shm = Path("/dev/shm")
        stats_dir = shm if shm.is_dir() and os.access(shm, os.W_OK) else self.workdir
        self.stats_path = stats_dir / f"aqmllm-emu-{self.tag}.json"
        self.err_path = self.workdir / f"emu-{self.tag}.err"
        self.router: subprocess.Popen[str] | None = None
        self.t0_ns = 0
        self._children: list[subprocess.Popen[Any]] = []
        self._closed = False

    # ---- running things inside the namespaces ----
    def exec(self, ns: str, *cmd: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["ip", "netns", "exec", ns, *cmd], capture_output=True, text=True, timeout=timeout
        )

    def popen(self, ns: str, *cmd: str) -> subprocess.Popen[str]:
        p = subprocess.Popen(
            ["ip", "netns", "exec", ns, *cmd],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._children.append(p)
        return p

    # ---- life cycle ----
    def __enter__(self) -> EmuTopology:
        why = missing_prerequisites(need_iperf=False)
        if why:
            raise EmuError(f"the emulator cannot run here: {why}")
        if not ROUTER.exists():
            raise EmuError(f"{ROUTER} is missing: run `make emu-router`")
        with _live_lock:
            _live.add(self)
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def router_cmd(self) -> list[str]:
        cmd = [
            str(ROUTER),
            "--tun-a",
            self.tun_a,
            "--tun-b",
            self.tun_b,
            "--rate",
            str(int(self.rate_bps)),
            "--delay-us",
            str(int(self.delay_us)),
            "--limit",
            str(self.limit),
            "--fallback",
            self.fallback,
            "--stats",
            str(self.stats_path),
            "--pool",
            str(max(16384, self.limit + 8192)),
        ]
        for h in self.hosts:
            cmd += ["--host-delay", f"{h.addr}={int(h.delay_us)}"]
        if self.log:
            cmd += ["--log", str(self.log_path)]
        if self.rt_priority:
            cmd += ["--rt-priority", str(self.rt_priority)]
        if self.ring:
            cmd += ["--ring", self.ring, "--ring-entries", str(self.ring_entries)]
            if self.verdict_timeout_us:
                cmd += ["--verdict-timeout-us", str(self.verdict_timeout_us)]
            cmd += ["--export", self.export]
            if self.interval_us:
                cmd += ["--interval-us", str(self.interval_us)]
        return cmd

    def _start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        _run("ip", "netns", "add", self.ns_src)
        _run("ip", "netns", "add", self.ns_dst)
        # stderr to a file: an unread pipe could fill and stall the router
        with open(self.err_path, "w") as err:
            self.router = subprocess.Popen(
                self.router_cmd(),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
            )
        assert self.router.stdout is not None
        line = self.router.stdout.readline()
        try:
            ready = json.loads(line)
        except ValueError:
            self.router.wait(5)
            why = self.err_path.read_text().strip()
            raise EmuError(f"the router failed to start: {why}") from None
        self.t0_ns = int(ready["t0_ns"])
        for ns in (self.ns_src, self.ns_dst):
            self.exec(ns, "ip", "link", "set", "lo", "up")
            for key, value in (
                ("net.ipv4.tcp_no_metrics_save", "1"),
                ("net.ipv4.conf.all.rp_filter", "0"),
                ("net.ipv4.conf.default.rp_filter", "0"),
                # IPv4 only: no router solicitations or DAD crossing the link
                ("net.ipv6.conf.all.disable_ipv6", "1"),
                ("net.ipv6.conf.default.disable_ipv6", "1"),
            ):
                self.exec(ns, "sysctl", "-qw", f"{key}={value}")
        self.exec(self.ns_src, "sysctl", "-qw", f"net.ipv4.tcp_ecn={self.tcp_ecn}")
        self.exec(self.ns_dst, "sysctl", "-qw", "net.ipv4.tcp_ecn=1")
        _run("ip", "link", "set", self.tun_a, "netns", self.ns_src)
        _run("ip", "link", "set", self.tun_b, "netns", self.ns_dst)
        ex = ("ip", "netns", "exec")
        _run(*ex, self.ns_src, "ip", "addr", "add", f"{SRC_IP}/24", "dev", self.tun_a)
        _run(*ex, self.ns_src, "ip", "link", "set", self.tun_a, "up")
        _run(*ex, self.ns_src, "ip", "route", "add", DST_NET, "dev", self.tun_a)
        _run(*ex, self.ns_dst, "ip", "addr", "add", f"{DST_IP}/24", "dev", self.tun_b)
        for h in self.hosts:
            _run(*ex, self.ns_dst, "ip", "addr", "add", f"{h.addr}/32", "dev", self.tun_b)
            if h.tcp_ecn:
                _run(
                    *ex,
                    self.ns_src,
                    "ip",
                    "route",
                    "add",
                    f"{h.addr}/32",
                    "dev",
                    self.tun_a,
                    "features",
                    "ecn",
                )
        _run(*ex, self.ns_dst, "ip", "link", "set", self.tun_b, "up")
        _run(*ex, self.ns_dst, "ip", "route", "add", SRC_NET, "dev", self.tun_b)
        ect1 = [h.addr for h in self.hosts if h.ecn == "ect1"]
        if ect1:
            self._tcp_ect1(ect1)

    def _tcp_ect1(self, addrs: list[str]) -> None:
        """TCP data to these addresses leaves the sender namespace ECT(1), not ECT(0)."""
        if shutil.which("nft") is None:
            raise EmuError(
                "TCP with ecn = 'ect1' needs nftables (nft), not installed here"
                " (make emu-deps installs it from Debian)"
            )
        rules = "\n".join(
            f"    ip daddr {a} meta l4proto tcp ip ecn ect0 ip ecn set ect1" for a in addrs
        )
        ruleset = (
            "table ip aqmllm_ecn {\n  chain out {\n"
            "    type filter hook postrouting priority mangle; policy accept;\n"
            f"{rules}\n  }}\n}}\n"
        )
        res = subprocess.run(
            ["ip", "netns", "exec", self.ns_src, "nft", "-f", "-"],
            input=ruleset,
            capture_output=True,
            text=True,
        )
        if res.returncode != 0:
            raise EmuError(f"cannot install the ECT(1) rewrite rule: {res.stderr.strip()}")

    # ---- router control ----
    def now_s(self) -> float:
        """Seconds on the router's clock (CLOCK_MONOTONIC since its start)."""
        return (time.monotonic_ns() - self.t0_ns) / 1e9

    def _command(self, line: str) -> None:
        if self.router is None or self.router.poll() is not None or self.router.stdin is None:
            raise EmuError("the router is not running")
        self.router.stdin.write(line + "\n")
        self.router.stdin.flush()

    def set_rate(self, rate_bps: int) -> None:
        self._command(f"rate {int(rate_bps)}")

    def stats(self, timeout: float = 5.0) -> dict[str, Any]:
        """A fresh statistics dump (SIGUSR1), parsed."""
        if self.router is None or self.router.poll() is not None:
            raise EmuError("the router is not running")
        before = time.monotonic_ns()
        self.router.send_signal(signal.SIGUSR1)
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                st = json.loads(self.stats_path.read_text())
                if int(st["now_ns"]) >= before:
                    return st
            except (OSError, ValueError, KeyError):
                pass
            time.sleep(0.01)
        raise EmuError(f"the router wrote no statistics to {self.stats_path} in {timeout} s")

    def stop_router(self) -> dict[str, Any]:
        if self.router is not None and self.router.poll() is None:
            self.router.send_signal(signal.SIGTERM)
            try:
                self.router.wait(10)
            except subprocess.TimeoutExpired:
                self.router.kill()
                self.router.wait()
        try:
            return json.loads(self.stats_path.read_text())
        except (OSError, ValueError):
            return {}

    def close(self) -> dict[str, Any]:
        if self._closed:
            return {}
        self._closed = True
        for p in self._children:
            if p.poll() is None:
                p.kill()
            try:
                p.communicate(timeout=5)
            except (subprocess.TimeoutExpired, ValueError):
                pass
        st = self.stop_router()
        if self.router is not None:
            for stream in (self.router.stdin, self.router.stdout):
                if stream is not None:
                    stream.close()
        for ns in (self.ns_src, self.ns_dst):
            # Anything still running in our namespaces was started by us.
            res = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True)
            for pid in res.stdout.split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        if self.ring:
            try:
                os.unlink(self.ring)
            except FileNotFoundError:
                pass
        if self.stats_path != self.final_stats_path:
            try:
                self.final_stats_path.write_text(self.stats_path.read_text())
                self.stats_path.unlink()
            except OSError:
                pass
        with _live_lock:
            _live.discard(self)
        return st

    def __exit__(self, *exc: object) -> None:
        self.close()


@atexit.register
def _cleanup_all() -> None:
    for topo in list(_live):
        topo.close()
