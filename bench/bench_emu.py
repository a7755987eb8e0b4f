"""Emulator figures: real TCP through the TUN router with aqmllmd, and fallback after kill -9.

    python bench/bench_emu.py [--seconds 8] [--kills 5]

Prints ``name: value`` lines: goodput and queue-delay percentiles per class
for DualPI2 alone, aqmllmd echoing DualPI2, and aqmllmd running the shipped
student, on one scenario (Cubic with ECN, Reno, UDP ECT(1), 20 Mbit/s);
then the time from SIGKILL of the daemon to the router's fallback.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from aqmllm.sim.emu.daemon_ctl import Daemon, wait_ring
from aqmllm.sim.emu.run import emulate
from aqmllm.sim.emu.topology import EmuTopology, Host, host_ip, missing_prerequisites
from aqmllm.sim.emu.traffic import Flows, FlowSpec
from aqmllm.sim.scenario import parse_scenario

SCENARIO = {
    "name": "bench-emu",
    "duration_s": 8,
    "bottleneck": {"rate_mbps": 20, "buffer_pkts": 1000},
    "flows": [
        {"kind": "cubic", "ecn": True, "rtt_ms": 20},
        {"kind": "newreno", "rtt_ms": 40},
        {"kind": "udp", "ecn": True, "rate_mbps": 2, "rtt_ms": 20},
    ],
}


def fallback_times(kills: int, work: Path) -> list[float]:
    ring = f"/dev/shm/aqmllm-bench-emu-{time.monotonic_ns()}"
    out = []
    with EmuTopology(
        20_000_000,
        10_000,
        [Host(host_ip(0), 10_000, True)],
        ring=ring,
        verdict_timeout_us=10_000,
        workdir=work,
        log=False,
    ) as topo:
        wait_ring(ring)
        flows = Flows(topo, [FlowSpec(host_ip(0), 5201, 3 * kills + 2, "cubic")])
        flows.start()
        for _ in range(kills):
            d = Daemon(ring, policy="fallback-echo")
            d.wait_attached()
            time.sleep(1.5)
            t = d.kill9()
            d.terminate()
            time.sleep(0.3)
            st = topo.stats()
            out += [(tt - t) / 1e6 for tt, a in st["alive_transitions"] if tt >= t and a == 0][:1]
        flows.wait(timeout=60)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=8)
    ap.add_argument("--kills", type=int, default=5)
    args = ap.parse_args()
    why = missing_prerequisites()
    if why:
        print(f"bench_emu: cannot run here: {why}", file=sys.stderr)
        return 2
    sc = parse_scenario({**SCENARIO, "duration_s": args.seconds}, "bench-emu")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for aqm in ("dualpi2", "echo", "student"):
            m = emulate(sc, aqm, work)
            print(f"emu_{aqm}_goodput_mbps: {m['goodput_mbps']:.2f}")
            print(f"emu_{aqm}_utilisation: {m['utilisation']:.3f}")
            for cls in ("L", "C"):
                for q in ("p50", "p99", "p999"):
                    v = m[cls].get(f"delay_{q}_ms")
                    if v is not None:
                        print(f"emu_{aqm}_{cls}_delay_{q}_ms: {v:.3f}")
            print(f"emu_{aqm}_ping_rtt_p50_ms: {m['ping_rtt_ms']['p50']:.2f}")
            src = m.get("decision_sources", {})
            print(f"emu_{aqm}_share_verdict: {src.get('verdict', 0.0):.3f}")
        fb = fallback_times(args.kills, work)
    if fb:
        print(f"emu_fallback_after_kill_ms_median: {float(np.median(fb)):.3f}")
        print(f"emu_fallback_after_kill_ms_max: {max(fb):.3f}")
        print("emu_verdict_timeout_ms: 10")
    return 0


if __name__ == "__main__":
    sys.exit(main())
