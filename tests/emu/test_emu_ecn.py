"""ECN codepoint per flow in the emulator, UDP and TCP, as the router classifies it."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from aqmllm.sim.emu.topology import EmuError, EmuTopology, Host, ecn_codepoint, host_ip
from aqmllm.sim.emu.traffic import Flows, FlowSpec
from aqmllm.sim.evlog import EV_MARKED, EV_SERVED, read_evlog

IPV4_UDP = 28


def test_ecn_values_mean_what_the_scenario_files_say() -> None:
    assert ecn_codepoint(True) == "ect0" and ecn_codepoint(False) == "not-ect"
    assert [ecn_codepoint(c) for c in ("not-ect", "ect0", "ect1")] == ["not-ect", "ect0", "ect1"]
    with pytest.raises(EmuError, match="ecn 'ce': choose from not-ect, ect0, ect1"):
        ecn_codepoint("ce")
    assert Host("10.77.2.10", 1000, "ect1").tcp_ecn and not Host("10.77.2.10", 1000).tcp_ecn


def test_udp_codepoints_each_land_in_their_queue(emu_env: Path, tmp_path: Path) -> None:
    # Three UDP flows, told apart by their datagram sizes: ECT(1) is L4S (the
    # L queue, marked there), Not-ECT and ECT(0) are Classic.
    sizes = {"not-ect": 1000, "ect0": 1100, "ect1": 1200}
    hosts = [Host(host_ip(i), 5_000) for i in range(3)]
    with EmuTopology(10_000_000, 5_000, hosts, workdir=tmp_path) as topo:
        specs = [
            FlowSpec(host_ip(i), 5201 + i, 3, udp_mbps=3.8, tos=tos, udp_len=size)
            for i, (tos, size) in enumerate(sizes.items())
        ]
        flows = Flows(topo, specs)
        flows.start()
        res = flows.wait(timeout=30)
        topo.stats()
        topo.stop_router()
        log = read_evlog(topo.log_path).rows
    assert not any(r.error for r in res), res
    deq = log[np.isin(log["event"], (EV_SERVED, EV_MARKED))]
    for tos, size in sizes.items():
        mine = deq[deq["bytes"] == size + IPV4_UDP]
        assert len(mine) > 500, (tos, len(mine))
        want = 1 if tos == "ect1" else 0
        assert (mine["cls"] == want).all(), (tos, np.unique(mine["cls"], return_counts=True))
    # 11.4 Mbit/s into 10: the L flow is marked, not dropped
    marks = log[log["event"] == EV_MARKED]
    assert (marks["bytes"] == sizes["ect1"] + IPV4_UDP).sum() > 50


def test_tcp_codepoints_per_flow(emu_env: Path, tmp_path: Path) -> None:
    if shutil.which("nft") is None:
        pytest.skip("nftables is not installed (make emu-deps)")
    # Cubic to three receivers: Not-ECT, ECT(0) (RFC 3168 ECN negotiated by
    # the route), ECT(1) (the same, rewritten on the way out): the first two
    # in C, the third in L, where DualPI2's step marks it and it still works.
    hosts = [Host(host_ip(0), 5_000, "not-ect"), Host(host_ip(1), 5_000, "ect0")]
    hosts.append(Host(host_ip(2), 5_000, "ect1"))
    with EmuTopology(20_000_000, 5_000, hosts, workdir=tmp_path, tcp_ecn=2) as topo:
        for i, want_l in ((0, False), (1, False), (2, True)):
            before = _classes(topo)
            flows = Flows(topo, [FlowSpec(host_ip(i), 5201 + i, 2, "cubic")])
            flows.start()
            (r,) = flows.wait(timeout=30)
            assert not r.error and r.goodput_mbps > 2, (i, r)
            n_l, n_c = np.subtract(_classes(topo), before)
            if want_l:
                assert n_l > 0.9 * (n_l + n_c), (i, n_l, n_c)
            else:
                assert n_c > 0.99 * (n_l + n_c), (i, n_l, n_c)
        ss = topo.exec(topo.ns_src, "nft", "list", "ruleset").stdout
    assert f"ip daddr {host_ip(2)}" in ss and f"ip daddr {host_ip(1)}" not in ss


def _classes(topo: EmuTopology) -> tuple[int, int]:
    """Packets served per class so far, from the router's log (L, C)."""
    topo.stats()  # flushes the log
    log = read_evlog(topo.log_path).rows  # so far: no flow table yet
    deq = log[np.isin(log["event"], (EV_SERVED, EV_MARKED))]
    return int((deq["cls"] == 1).sum()), int((deq["cls"] == 0).sum())
