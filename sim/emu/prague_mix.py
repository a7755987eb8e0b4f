"""Short experiments of Prague-like flows, alone or beside Linux TCP, through one bottleneck.

    mix = run_mix(20e6, 20, ["prague", "prague"], seconds=10, workdir=tmp)
    mix["util"], mix["L"]["p99_ms"], mix["flows"][0]["ce_fraction"], mix["shares"]

What the scalable-CC tests (tests/emu/test_emu_prague.py) and the figures of
bench/bench_emu_prague.py measure: utilisation, the L and C queues' sojourn
percentiles over served packets, each flow's goodput, share and (Prague)
CE fraction, over the steady part of the run (after ``warmup_s``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from aqmllm.sim.emu.prague import PragueResult, PragueSpec
from aqmllm.sim.emu.topology import EmuTopology, Host, host_ip
from aqmllm.sim.emu.traffic import FlowResult, Flows, FlowSpec
from aqmllm.sim.evlog import DROP_EVENTS, EV_MARKED, EV_SERVED, read_evlog

KINDS = ("prague", "cubic", "reno", "bbr")


def _queue(ev: np.ndarray, cls: int) -> dict[str, float]:
    mine = ev[ev["cls"] == cls]
    served = mine[np.isin(mine["event"], (EV_SERVED, EV_MARKED))]
    out: dict[str, float] = {
        "packets": float(len(served)),
        "marks": float((mine["event"] == EV_MARKED).sum()),
        "drops": float(np.isin(mine["event"], DROP_EVENTS).sum()),
    }
    if len(served):
        p50, p99 = np.percentile(served["sojourn_ns"] / 1e6, [50, 99])
        out.update({"p50_ms": float(p50), "p99_ms": float(p99)})
    return out


def run_mix(
    rate_bps: float,
    rtt_ms: float,
    kinds: list[str],
    seconds: float,
    workdir: Path,
    warmup_s: float = 2.0,
    fallback: str = "dualpi2",
    limit: int = 1000,
    prague: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One run: a flow per entry of ``kinds`` (prague, or a Linux TCP with ECN), equal RTTs.

    ``prague``: PragueSpec fields for every Prague flow (e.g. pacing_credit).
    """
    for k in kinds:
        if k not in KINDS:
            raise ValueError(f"flow kind {k!r}: choose from {', '.join(KINDS)}")
    hosts = [Host(host_ip(i), int(rtt_ms * 500), k != "prague") for i, k in enumerate(kinds)]
    specs: list[Any] = []
    for i, k in enumerate(kinds):
        if k == "prague":
            specs.append(
                PragueSpec(host_ip(i), 6000 + i, seconds, label=f"{k}{i}", **(prague or {}))
            )
        else:
            specs.append(FlowSpec(host_ip(i), 5201 + i, seconds, k, label=f"{k}{i}"))
    with EmuTopology(
        int(rate_bps), int(rtt_ms * 500), hosts, limit, fallback, workdir=workdir
    ) as topo:
        flows = Flows(topo, specs)
        flows.start()
        t0_ns = int(flows.t0 * 1e9)
        results = flows.wait(timeout=seconds + 30)
        stats = topo.stats()
        topo.stop_router()
        log = read_evlog(topo.log_path)
        topo.log_path.unlink()
    errors = [f"{r.spec.label}: {r.error}" for r in results if r.error]
    if errors:
        raise RuntimeError("; ".join(errors))
    # router time -> time since the flows started; the steady window only
    t = (log.rows["t_ns"].astype(np.int64) - (t0_ns - log.t0_ns)) / 1e9
    end = seconds
    ev = log.rows[(t >= warmup_s) & (t <= end)]
    window = end - warmup_s
    served = ev[np.isin(ev["event"], (EV_SERVED, EV_MARKED))]
    flows_out = [_flow(r, warmup_s) for r in results]
    total = sum(f["goodput_mbps"] for f in flows_out) or 1.0
    for f in flows_out:
        f["share"] = f["goodput_mbps"] / total
    return {
        "rate_mbps": rate_bps / 1e6,
        "rtt_ms": rtt_ms,
        "seconds": seconds,
        "warmup_s": warmup_s,
        "util": float(served["bytes"].sum() * 8 / (rate_bps * window)),
        "L": _queue(ev, 1),
        "C": _queue(ev, 0),
        "flows": flows_out,
        "shares": [f["share"] for f in flows_out],
        "router": {k: stats.get(k) for k in ("fwd_unaccounted", "lost_fwd", "max_service_gap_ns")},
        "service_gaps_10ms": int(stats.get("service_gaps_total", 0)),
    }


def _flow(r: FlowResult, warmup_s: float) -> dict[str, Any]:
    """Goodput over the steady window (Prague: from its 100 ms trace; iperf3: its intervals)."""
    out: dict[str, Any] = {"label": r.spec.label, "goodput_total_mbps": r.goodput_mbps}
    if isinstance(r, PragueResult):
        steady = [x for x in r.trace if x["t"] > warmup_s]
        out["goodput_mbps"] = (
            float(np.mean([x["delivered_mbps"] for x in steady])) if steady else 0.0
        )
        out["ce_fraction"] = r.ce_fraction
        out["ce_fraction_steady"] = _steady_ce(steady)
        out["alpha_mean"] = float(np.mean([x["alpha"] for x in steady])) if steady else 0.0
        out["lost_pkts"] = r.lost_packets
        for k in ("rtos", "spurious_losses", "loss_reductions", "ce_reductions", "sent_pkts"):
            out[k] = int(r.sender.get(k, 0))
        for k in ("rx_pkts", "impaired_drops", "impaired_reorders", "reordered_pkts", "dup_pkts"):
            out[k] = int(r.receiver.get(k, 0))
        out["owd_ms"] = r.receiver.get("owd_ms", {})
    else:
        skip = int(warmup_s / 0.5)
        iv = r.intervals_mbps[skip:]
        out["goodput_mbps"] = float(np.mean(iv)) if iv else r.goodput_mbps
        out["retransmits"] = r.retransmits
    return out


def _steady_ce(trace: list[dict[str, Any]]) -> float:
    mbits = sum(x["delivered_mbps"] for x in trace)
    return float(sum(x["delivered_mbps"] * x["ce_frac"] for x in trace) / mbits) if mbits else 0.0
