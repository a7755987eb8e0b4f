"""Scenarios as data: TOML files describing a dumbbell experiment.

    name = "two-cubic-one-dctcp"
    duration_s = 10
    seeds = [1, 2]
    start_jitter_ms = 0     # ns-3: each flow starts up to this much later, drawn from the seed
    [bottleneck]
    rate_mbps = 20
    buffer_pkts = 1000
    [[flows]]
    kind = "cubic"          # cubic | newreno | dctcp | prague | udp | web
    count = 2               # independent flows (web: independent sources)
    rtt_ms = 20
    ecn = "not-ect"         # "not-ect" | "ect0" | "ect1"; true = "ect0", false = "not-ect";
                            # default "ect1" for dctcp and prague (which refuse not-ect),
                            # else "not-ect"
    start_s = 0.0
    stop_s = 10.0           # default: the end (web: no transfer starts after it)
    rate_mbps = 5           # udp only: the sending rate (while on)
    on_ms = 4               # udp only: bursts of on_ms at rate_mbps every on_ms + off_ms
    off_ms = 36             #   (both or neither; default: continuous)
    init_cwnd = 10          # TCP (and web) only: initial window in segments (ns-3's default 10)
    # web only: finite transfers, each on its own TCP connection (sim/web.py)
    cc = "cubic"            # cubic | newreno | dctcp: the transfers' congestion control
    arrivals_per_s = 5      # Poisson arrivals of transfers, per source
    size_dist = "lognormal" # lognormal | pareto
    mean_kb = 50            # mean transfer size before the cap (kB = 1000 bytes)
    shape = 1.0             # lognormal sigma (default 1.0) | pareto alpha (> 1, default 1.2)
    max_kb = 10000          # cap on one transfer's size
    [[rate_changes]]
    at_s = 5.0
    rate_mbps = 10

Every error names the file and the key.  No ns-3 import here: the
emulator and the synthetic engine read the same files.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# prague: a scalable (L4S) sender; ns-3 runs it as its DCTCP with ECT(1), the
# emulator as its Prague-like UDP sender (as it does dctcp).
FLOW_KINDS = ("cubic", "newreno", "dctcp", "prague", "udp", "web")
TCP_CCS = ("cubic", "newreno", "dctcp")  # a web flow's transfers
SCALABLE_CCS = ("dctcp", "prague")
ECN_CODEPOINTS = ("not-ect", "ect0", "ect1")
SIZE_DISTS = {"lognormal": 1.0, "pareto": 1.2}  # name: default shape
WEB_KEYS = {"cc", "arrivals_per_s", "size_dist", "mean_kb", "shape", "max_kb"}
# A web source's transfers each take their own local port (sim/ns3: 1024 + index).
MAX_TRANSFERS_PER_SOURCE = 40_000


class ScenarioError(ValueError):
    """A scenario file is missing, malformed or out of range."""


@dataclass(frozen=True)
class Flow:
    kind: str
    count: int = 1
    rtt_ms: float = 20.0
    ecn: str = "not-ect"  # one of ECN_CODEPOINTS
    start_s: float = 0.0
    stop_s: float | None = None
    rate_mbps: float = 0.0
    on_ms: float = 0.0  # udp bursts; 0: continuous
    off_ms: float = 0.0
    init_cwnd: int = 10
    # web flows
    cc: str = "cubic"
    arrivals_per_s: float = 0.0
    size_dist: str = "lognormal"
    mean_kb: float = 0.0
    shape: float = 1.0
    max_kb: float = 10_000.0

    @property
    def congestion_control(self) -> str | None:
        """The TCP congestion control of this flow (web: its transfers'); None for UDP."""
        if self.kind == "web":
            return self.cc
        return None if self.kind == "udp" else self.kind

    @property
    def scalable(self) -> bool:
        return self.congestion_control in SCALABLE_CCS

    @property
    def ecn_capable(self) -> bool:
        return self.ecn != "not-ect"

    @property
    def cls(self) -> str:
        """The DualQ class its packets arrive in: L for ECT(1), else C."""
        return "L" if self.ecn == "ect1" else "C"


@dataclass(frozen=True)
class RateChange:
    at_s: float
    rate_mbps: float


@dataclass(frozen=True)
class Scenario:
    name: str
    path: str
    duration_s: float
    rate_mbps: float
    buffer_pkts: int
    flows: tuple[Flow, ...]
    rate_changes: tuple[RateChange, ...] = ()
    seeds: tuple[int, ...] = (1,)
    start_jitter_s: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


def _take(
    where: str,
    table: dict[str, Any],
    key: str,
    kind: type | tuple[type, ...],
    default: Any = ...,
    lo: float | None = None,
    hi: float | None = None,
) -> Any:
    if key not in table:
        if default is ...:
            raise ScenarioError(f"{where}: missing key {key!r}")
        return default
    value = table[key]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(value, bool) and bool not in kinds:
        raise ScenarioError(f"{where}.{key}: expected {kinds[0].__name__}, got {value!r}")
    if not isinstance(value, kinds):
        raise ScenarioError(f"{where}.{key}: expected {kinds[0].__name__}, got {value!r}")
    if lo is not None and value < lo:
        raise ScenarioError(f"{where}.{key}: {value} is below {lo}")
    if hi is not None and value > hi:
        raise ScenarioError(f"{where}.{key}: {value} is above {hi}")
    return value


def _check_keys(where: str, table: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise ScenarioError(f"{where}: unknown key(s) {', '.join(unknown)}")


def parse_scenario(data: dict[str, Any], path: str) -> Scenario:
    _check_keys(
        path,
        data,
        {
            "name",
            "duration_s",
            "seeds",
            "start_jitter_ms",
            "bottleneck",
            "flows",
            "rate_changes",
            "description",
        },
    )
    num = (int, float)
    duration = float(_take(path, data, "duration_s", num, lo=0.1, hi=3600))
    seeds = data.get("seeds", [1])
    if (
        not isinstance(seeds, list)
        or not seeds
        or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds)
    ):
        raise ScenarioError(f"{path}.seeds: expected a non-empty list of integers")
    jitter_ms = float(_take(path, data, "start_jitter_ms", num, 0.0, lo=0, hi=duration * 1000 / 2))
    bn = data.get("bottleneck")
    if not isinstance(bn, dict):
        raise ScenarioError(f"{path}: missing table [bottleneck]")
    _check_keys(f"{path}.bottleneck", bn, {"rate_mbps", "buffer_pkts"})
    rate = float(_take(f"{path}.bottleneck", bn, "rate_mbps", num, lo=0.1, hi=10000))
    buffer_pkts = _take(f"{path}.bottleneck", bn, "buffer_pkts", int, 1000, lo=2, hi=1 << 20)
    raw_flows = data.get("flows")
    if not isinstance(raw_flows, list) or not raw_flows:
        raise ScenarioError(f"{path}: needs at least one [[flows]] entry")
    flows = []
    for i, f in enumerate(raw_flows):
        where = f"{path}.flows[{i}]"
        if not isinstance(f, dict):
            raise ScenarioError(f"{where}: expected a table")
        flow = _parse_flow(where, f, duration)
        # ns-3 moves bulk and UDP starts by up to the jitter: each must still start before it stops.
        if (
            flow.kind != "web"
            and flow.stop_s is not None
            and flow.stop_s - flow.start_s <= jitter_ms / 1000
        ):
            raise ScenarioError(
                f"{where}.stop_s: the flow lasts {flow.stop_s - flow.start_s:g} s, not longer"
                f" than start_jitter_ms ({jitter_ms:g} ms) may delay its start"
            )
        flows.append(flow)
    changes = []
    for i, c in enumerate(data.get("rate_changes", [])):
        where = f"{path}.rate_changes[{i}]"
        if not isinstance(c, dict):
            raise ScenarioError(f"{where}: expected a table")
        _check_keys(where, c, {"at_s", "rate_mbps"})
        changes.append(
            RateChange(
                float(_take(where, c, "at_s", num, lo=0, hi=duration)),
                float(_take(where, c, "rate_mbps", num, lo=0.1, hi=10000)),
            )
        )
    name = _take(path, data, "name", str, Path(path).stem)
    return Scenario(
        name,
        path,
        duration,
        rate,
        buffer_pkts,
        tuple(flows),
        tuple(sorted(changes, key=lambda c: c.at_s)),
        tuple(seeds),
        jitter_ms / 1000,
    )


def _parse_ecn(where: str, f: dict[str, Any], cc: str | None) -> str:
    scalable = cc in SCALABLE_CCS
    raw = _take(where, f, "ecn", (str, bool), "ect1" if scalable else "not-ect")
    if isinstance(raw, bool):
        # Today's meaning: ECN for classic TCP is RFC 3168 ECT(0); a scalable sender's is ECT(1).
        raw = ("ect1" if scalable else "ect0") if raw else "not-ect"
    if raw not in ECN_CODEPOINTS:
        raise ScenarioError(f"{where}.ecn: {raw!r} is not one of {', '.join(ECN_CODEPOINTS)}")
    if scalable and raw == "not-ect":
        name = {"dctcp": "DCTCP", "prague": "Prague"}[cc]
        raise ScenarioError(f"{where}.ecn: {name} needs ECN (ect0 or ect1), not {raw!r}")
    return raw


def _parse_flow(where: str, f: dict[str, Any], duration: float) -> Flow:
    num = (int, float)
    common = {"kind", "count", "rtt_ms", "ecn", "start_s", "stop_s"}
    kind = _take(where, f, "kind", str)
    if kind not in FLOW_KINDS:
        raise ScenarioError(f"{where}.kind: {kind!r} is not one of {', '.join(FLOW_KINDS)}")
    _check_keys(
        where,
        f,
        common
        | ({"rate_mbps", "on_ms", "off_ms"} if kind == "udp" else {"init_cwnd"})
        | (WEB_KEYS if kind == "web" else set()),
    )
    start = float(_take(where, f, "start_s", num, 0.0, lo=0, hi=duration))
    stop = _take(where, f, "stop_s", num, None, lo=0, hi=duration)
    stop = None if stop is None else float(stop)
    if stop is not None and stop <= start:
        raise ScenarioError(f"{where}.stop_s: {stop} is not after start_s {start}")
    count = _take(where, f, "count", int, 1, lo=1, hi=64)
    rtt = float(_take(where, f, "rtt_ms", num, 20.0, lo=0.1, hi=2000))
    if kind == "udp":
        rate_f = float(_take(where, f, "rate_mbps", num, 0.0, lo=0, hi=10000))
        if rate_f <= 0:
            raise ScenarioError(f"{where}.rate_mbps: a udp flow needs a positive rate")
        on = float(_take(where, f, "on_ms", num, 0.0, lo=0, hi=60_000))
        off = float(_take(where, f, "off_ms", num, 0.0, lo=0, hi=60_000))
        if (on > 0) != (off > 0):
            raise ScenarioError(f"{where}: a bursty udp flow needs both on_ms and off_ms above 0")
        return Flow(
            kind, count, rtt, _parse_ecn(where, f, None), start, stop, rate_f, on_ms=on, off_ms=off
        )
    iw = _take(where, f, "init_cwnd", int, 10, lo=1, hi=1000)
    if kind != "web":
        return Flow(kind, count, rtt, _parse_ecn(where, f, kind), start, stop, init_cwnd=iw)
    cc = _take(where, f, "cc", str, "cubic")
    if cc not in TCP_CCS:
        raise ScenarioError(f"{where}.cc: {cc!r} is not one of {', '.join(TCP_CCS)}")
    rate = float(_take(where, f, "arrivals_per_s", num, lo=0, hi=10_000))
    if rate <= 0:
        raise ScenarioError(f"{where}.arrivals_per_s: {rate} is not above 0")
    dist = _take(where, f, "size_dist", str, "lognormal")
    if dist not in SIZE_DISTS:
        raise ScenarioError(f"{where}.size_dist: {dist!r} is not one of {', '.join(SIZE_DISTS)}")
    mean_kb = float(_take(where, f, "mean_kb", num, lo=0.001, hi=1e6))
    shape = float(_take(where, f, "shape", num, SIZE_DISTS[dist], lo=0.01, hi=100))
    if dist == "pareto" and shape <= 1:
        raise ScenarioError(f"{where}.shape: a Pareto alpha of {shape} has no finite mean (> 1)")
    max_kb = float(_take(where, f, "max_kb", num, 10_000.0, lo=0.001, hi=1e7))
    active = (duration if stop is None else float(stop)) - start
    if rate * active > MAX_TRANSFERS_PER_SOURCE * 0.75:
        raise ScenarioError(
            f"{where}.arrivals_per_s: {rate} per s over {active:g} s is about"
            f" {rate * active:.0f} transfers per source; at most"
            f" {int(MAX_TRANSFERS_PER_SOURCE * 0.75)} are expected (add sources with count)"
        )
    return Flow(
        kind,
        count,
        rtt,
        _parse_ecn(where, f, cc),
        start,
        stop,
        init_cwnd=iw,
        cc=cc,
        arrivals_per_s=rate,
        size_dist=dist,
        mean_kb=mean_kb,
        shape=shape,
        max_kb=max_kb,
    )


def load_scenario(path: str | Path) -> Scenario:
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text())
    except FileNotFoundError:
        raise ScenarioError(f"{p}: no such scenario file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{p}: not valid TOML: {exc}") from None
    return parse_scenario(data, str(p))


def load_scenarios(paths: list[str]) -> list[Scenario]:
    """Files, or folders of *.toml files, in a stable order."""
    out = []
    for p in map(Path, paths):
        if p.is_dir():
            files = sorted(p.glob("*.toml"))
            if not files:
                raise ScenarioError(f"{p}: no *.toml scenario files in this folder")
            out += [load_scenario(f) for f in files]
        else:
            out.append(load_scenario(p))
    return out


SCENARIO_DIR = Path(__file__).resolve().parent / "scenarios"
# Held-out suites: never used to train, tune, select checkpoints or choose
# hyper-parameters (sim/scenarios/eval, rfc7928, l4s-stress).
HELD_OUT_SUITES = ("eval", "rfc7928", "l4s-stress")


def is_held_out(path: str | Path) -> bool:
    """A scenario file of a held-out suite (by its folder's name)."""
    return Path(path).resolve().parent.name in HELD_OUT_SUITES
