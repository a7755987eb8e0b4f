"""Scenarios as data: TOML files describing a dumbbell experiment.

    name = "two-cubic-one-dctcp"
    duration_s = 10
    seeds = [1, 2]
    start_jitter_ms = 0     # ns-3: each flow starts up to this much later, drawn from the seed
    [bottleneck]
    rate_mbps = 20
    buffer_pkts = 1000
    [[flows]]
    kind = "cubic"          # cubic | newreno | dctcp | prague | udp
    count = 2
    rtt_ms = 20
    ecn = false             # classic flows: ECT(0) when true; dctcp, prague always ECT(1)
    start_s = 0.0
    stop_s = 10.0           # default: the end
    rate_mbps = 5           # udp only
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
FLOW_KINDS = ("cubic", "newreno", "dctcp", "prague", "udp")
SCALABLE_KINDS = ("dctcp", "prague")


class ScenarioError(ValueError):
    """A scenario file is missing, malformed or out of range."""


@dataclass(frozen=True)
class Flow:
    kind: str
    count: int = 1
    rtt_ms: float = 20.0
    ecn: bool = False
    start_s: float = 0.0
    stop_s: float | None = None
    rate_mbps: float = 0.0

    @property
    def scalable(self) -> bool:
        return self.kind in SCALABLE_KINDS


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
        _check_keys(where, f, {"kind", "count", "rtt_ms", "ecn", "start_s", "stop_s", "rate_mbps"})
        kind = _take(where, f, "kind", str)
        if kind not in FLOW_KINDS:
            raise ScenarioError(f"{where}.kind: {kind!r} is not one of {', '.join(FLOW_KINDS)}")
        start = float(_take(where, f, "start_s", num, 0.0, lo=0, hi=duration))
        stop = _take(where, f, "stop_s", num, None, lo=0, hi=duration)
        if stop is not None and stop <= start:
            raise ScenarioError(f"{where}.stop_s: {stop} is not after start_s {start}")
        rate_f = float(_take(where, f, "rate_mbps", num, 0.0, lo=0, hi=10000))
        if kind == "udp" and rate_f <= 0:
            raise ScenarioError(f"{where}.rate_mbps: a udp flow needs a positive rate")
        flows.append(
            Flow(
                kind,
                _take(where, f, "count", int, 1, lo=1, hi=64),
                float(_take(where, f, "rtt_ms", num, 20.0, lo=0.1, hi=2000)),
                bool(_take(where, f, "ecn", bool, kind in SCALABLE_KINDS)),
                start,
                None if stop is None else float(stop),
                rate_f,
            )
        )
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
