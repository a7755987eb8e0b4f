"""From a family's point to a scenario: the TOML table and its text.

The point's latents are turned into flows, a bottleneck and rate changes in
sim/scenario.py's schema.  With the family's ``scenario_keys = "base"`` the
output uses only keys today's loader accepts (``ecn`` a bool, no web
flows); ``"extended"`` writes issue 13's codepoint strings and web flows.
"""

from __future__ import annotations

import json
import math
from typing import Any

from aqmllm.sim.gen import limits

MARKER = "# aqmllm-generated:"
POINT_PREFIX = "# aqmllm-point: "
MAX_RATE_CHANGES = 8


def _sig(x: float, digits: int = 3) -> float:
    if x == 0:
        return 0.0
    return round(x, max(0, digits - 1 - math.floor(math.log10(abs(x)))))


def _clamp(x: float, bounds: tuple[float, float]) -> float:
    return min(bounds[1], max(bounds[0], x))


def _rtts(p: dict[str, Any]) -> tuple[float, float, float]:
    """(classic group 1, classic group 2, L) RTTs in ms."""
    base, f = p["rtt_base_ms"], p["rtt_factor"]
    if p["rtt_mix"] == "same":
        out = (base, base, base)
    elif p["rtt_mix"] == "two":
        out = (base, base * f, base * f)
    else:  # spread: three RTTs, L in the geometric middle
        out = (base, base * f, base * math.sqrt(f))
    return tuple(round(_clamp(r, limits.RTT_MS), 1) for r in out)  # type: ignore[return-value]


def _ecn(codepoint: str, extended: bool) -> dict[str, Any]:
    """The flow's ecn key: a codepoint string (extended) or today's bool."""
    if extended:
        return {"ecn": codepoint}
    return {"ecn": True} if codepoint == "ect0" else {}


def _classic_flows(p: dict[str, Any], rtt1: float, rtt2: float, extended: bool, late: float):
    n2 = int(round(p["c_count"] * p["c_split"]))
    n1 = p["c_count"] - n2
    kinds = ("cubic", "newreno") if p["c_kind"] == "mixed" else (p["c_kind"],) * 2
    ecns = ("not-ect", "ect0") if p["c_ecn"] == "mixed" else (p["c_ecn"],) * 2
    flows = [{"kind": kinds[0], "count": n1, "rtt_ms": rtt1, **_ecn(ecns[0], extended)}]
    if n2:
        g2 = {"kind": kinds[1], "count": n2, "rtt_ms": rtt2, **_ecn(ecns[1], extended)}
        if late:
            g2["start_s"] = late
        flows.append(g2)
    return flows


def _scalable_flows(p: dict[str, Any], rtt: float, extended: bool, late: float):
    n = p["l_count"]
    if not n:
        return []
    ecn = {"ecn": "ect1"} if extended else {}
    late_n = n // 2 if late else 0
    flows = [{"kind": "dctcp", "count": n - late_n, "rtt_ms": rtt, **ecn}]
    if late_n:
        flows.append({"kind": "dctcp", "count": late_n, "rtt_ms": rtt, "start_s": late, **ecn})
    return flows


def _udp_flow(p: dict[str, Any], rate: float, duration: float, rtt: float, extended: bool):
    if p["udp_load"] <= 0:
        return []
    start = round(p["udp_on_frac"] * duration, 2)
    stop = round(max(p["udp_off_frac"], p["udp_on_frac"] + 0.1) * duration, 2)
    flow: dict[str, Any] = {
        "kind": "udp",
        "rate_mbps": _sig(max(p["udp_load"] * rate, 0.01)),
        "rtt_ms": rtt,
        **_ecn(p["udp_ecn"], extended),
    }
    if start > 0:
        flow["start_s"] = start
    if stop < duration:
        flow["stop_s"] = stop
    return [flow]


def _web_flow(p: dict[str, Any], rate: float, duration: float):
    if p["web_load"] <= 0:
        return []
    mean_kb = _sig(p["web_mean_kb"])
    arrivals = _clamp(p["web_load"] * rate * 1e6 / 8 / (mean_kb * 1000), (0.1, 500.0))
    ecn = "ect1" if p["web_cc"] == "dctcp" else p["web_ecn"]
    if p["web_cc"] != "dctcp" and ecn == "ect1":
        ecn = "ect0"  # a classic TCP sender does not send ECT(1)
    return [
        {
            "kind": "web",
            "cc": p["web_cc"],
            "ecn": ecn,
            "rtt_ms": round(_clamp(p["web_rtt_ms"], limits.RTT_MS), 1),
            "arrivals_per_s": _sig(arrivals),
            "size_dist": p["web_size_dist"],
            "mean_kb": mean_kb,
            "shape": round(p["web_shape"], 2),
            "max_kb": _sig(min(20 * mean_kb, 20000.0)),
            "count": 1,
            "start_s": 0.0,
            "stop_s": round(duration - 1.0, 2),
        }
    ]


def _rate_changes(p: dict[str, Any], rate: float, duration: float) -> list[dict[str, float]]:
    if abs(math.log(p["step_factor"])) < 0.01:
        return []
    stepped = _sig(_clamp(rate * p["step_factor"], limits.RATE_AFTER_STEP_MBPS))
    at = round(p["step_at_frac"] * duration, 2)
    out = [{"at_s": at, "rate_mbps": stepped}]
    period = p["step_toggle_s"]
    while period > 0 and len(out) < MAX_RATE_CHANGES:
        at = round(at + period, 2)
        if at >= duration:
            break
        out.append({"at_s": at, "rate_mbps": rate if len(out) % 2 else stepped})
    return out


def build_scenario(
    point: dict[str, Any],
    extended: bool,
    name: str,
    seeds: list[int],
    jitter_ms: float,
    description: str,
) -> dict[str, Any]:
    duration = round(point["duration_s"], 1)
    rate = _sig(point["rate_mbps"])
    rtt1, rtt2, rtt_l = _rtts(point)
    late = round(min(point["late_start_s"], duration / 2), 2)
    flows = (
        _classic_flows(point, rtt1, rtt2, extended, late)
        + _scalable_flows(point, rtt_l, extended, late)
        + _udp_flow(point, rate, duration, rtt1, extended)
        + (_web_flow(point, rate, duration) if extended else [])
    )
    max_rtt = max(f["rtt_ms"] for f in flows)
    bdp_pkts = rate * 1e6 / 8 * max_rtt / 1000 / 1500
    buffer_pkts = int(_clamp(round(bdp_pkts * point["buffer_bdp"]), limits.BUFFER_PKTS))
    return {
        "name": name,
        "description": description,
        "duration_s": duration,
        "seeds": list(seeds),
        "start_jitter_ms": min(jitter_ms, duration * 1000 / 4),
        "bottleneck": {"rate_mbps": rate, "buffer_pkts": buffer_pkts},
        "flows": flows,
        "rate_changes": _rate_changes(point, rate, duration),
    }


def base_view(table: dict[str, Any]) -> dict[str, Any]:
    """An extended scenario in today's keys, for validation with today's loader: codepoint
    strings become the bool (ECT(0)/ECT(1) -> true), web flows are checked here and left out."""
    flows = []
    for i, f in enumerate(table["flows"]):
        if f["kind"] == "web":
            where = f"{table['name']}.flows[{i}]"
            if not (
                f["arrivals_per_s"] > 0
                and 0 < f["mean_kb"] <= f["max_kb"]
                and f["shape"] > 0
                and 0 <= f["start_s"] < f["stop_s"] <= table["duration_s"]
            ):
                raise ValueError(f"{where}: generated web flow out of range: {f}")
            continue
        g = dict(f)
        if isinstance(g.get("ecn"), str):
            g["ecn"] = g["ecn"] != "not-ect"
            if g["kind"] == "dctcp":
                g.pop("ecn")
        flows.append(g)
    return {**table, "flows": flows or [{"kind": "cubic"}]}


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return json.dumps(v)  # an ASCII JSON string is a valid TOML basic string
    if isinstance(v, list):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, float):
        return repr(float(v))
    return str(int(v))


def to_toml(table: dict[str, Any], header_lines: list[str]) -> str:
    lines = list(header_lines)
    for key, value in table.items():
        if not isinstance(value, dict | list) or (
            isinstance(value, list) and not (value and isinstance(value[0], dict))
        ):
            if isinstance(value, list) and not value:
                continue
            lines.append(f"{key} = {_value(value)}")
    for key, value in table.items():
        if isinstance(value, dict):
            lines.append(f"\n[{key}]")
            lines += [f"{k} = {_value(v)}" for k, v in value.items()]
    for key, value in table.items():
        if isinstance(value, list) and value and isinstance(value[0], dict):
            for item in value:
                lines.append(f"\n[[{key}]]")
                lines += [f"{k} = {_value(v)}" for k, v in item.items()]
    return "\n".join(lines) + "\n"


def header_lines(family: str, seed: int, index: int, point: dict[str, Any], parent: str) -> list:
    origin = f" near {parent}" if parent else ""
    return [
        f"{MARKER} family {family}, seed {seed}, index {index}{origin}.",
        "# NOT part of the held-out suites (sim/scenarios/eval, rfc7928, l4s-stress):",
        "# train and select on files like this one, never on those.",
        POINT_PREFIX + json.dumps(point, sort_keys=True, separators=(",", ":")),
        "",
    ]
