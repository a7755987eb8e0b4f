"""The interval tier with real TCP through the emulated router: aqmllmd's
interval loop writes residuals that the router's core takes and applies."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from aqmllm.sim.emu.daemon_ctl import Daemon, counters_by_name, wait_ring
from aqmllm.sim.emu.topology import EmuTopology, Host, host_ip
from aqmllm.sim.emu.traffic import Flows, FlowSpec
from host_figures import HostFigures

RATE = 20_000_000


@pytest.fixture
def topo(emu_env: Path, tmp_path: Path, ring_path: str) -> Iterator[EmuTopology]:
    hosts = [Host(host_ip(0), 10_000, True), Host(host_ip(1), 10_000, False)]
    with EmuTopology(
        RATE, 10_000, hosts, ring=ring_path, ring_entries=4096, export="intervals",
        workdir=tmp_path, tcp_ecn=2,
    ) as t:  # fmt: skip
        wait_ring(ring_path)
        yield t


def test_the_interval_loop_steers_the_routers_core(
    topo: EmuTopology, host_figures: HostFigures
) -> None:
    d = Daemon(
        topo.ring or "",
        policy="pass",
        log=topo.workdir / "aqmllmd.log",
        extra=["--set", "inference.mode=interval", "--set", "interval.policy=constant",
               "--set", "interval.target=-1", "--set", "interval.mult_c=1"],
    )  # fmt: skip
    d.wait_attached()
    flows = Flows(
        topo,
        [FlowSpec(host_ip(0), 5201, 4, "cubic"), FlowSpec(host_ip(1), 5202, 4, "reno")],
    )
    flows.start()
    results = flows.wait(30)
    st = topo.stats()
    d.terminate()
    c = counters_by_name(st["ring_counters"])
    assert all(not r.error for r in results), [r.error for r in results]
    assert c["records"] == 0  # intervals only: no per-packet records
    assert c["ivl_records"] > 4 / 0.016 * 0.8
    assert c["res_accepted"] > 0.8 * c["ivl_records"]
    for name in ("res_rej_seq", "res_rej_stale", "res_rej_queue", "res_rej_field"):
        assert c[name] == 0, name
    # the core ran with the residual: the router's queue shows it in effect
    assert st["residual"]["log2_target"] == -256 and st["residual"]["log2_mult_c"] == 256
    total = sum(r.goodput_mbps for r in results)
    assert total > 0.3 * RATE / 1e6, results
    host_figures.check(total > 0.6 * RATE / 1e6, f"goodput {total:.1f} Mbit/s > 60 % of the rate")


def test_emulate_refuses_an_interval_model_the_daemon_would_refuse(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from aqmllm.sim.emulate_cli import main

    sc = tmp_path / "s.toml"
    sc.write_text(SCENARIO)
    packet_student = Path(__file__).resolve().parents[2] / "models" / "shipped" / "student"
    args = [str(sc), "--aqm", "interval", "--interval-model", str(packet_student)]
    assert main([*args, "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("aqmllm emulate: --interval-model:") and "interval model" in err
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "o" / "report.json").exists()


def test_emulate_runs_an_interval_model_over_real_tcp(emu_env: Path, tmp_path: Path) -> None:
    """`aqmllm emulate --aqm interval`: aqmllmd's interval tier decides, the router's
    DualPI2 takes its residuals, and the report says which checkpoint ran."""
    from aqmllm.sim.emulate_cli import main

    sc = tmp_path / "s.toml"
    sc.write_text(SCENARIO)
    model = Path(__file__).resolve().parents[2] / "models" / "cma-interval"
    out = tmp_path / "out"
    assert main([str(sc), "--aqm", "interval", "--interval-model", str(model),
                 "--out", str(out)]) == 0  # fmt: skip
    report = json.loads((out / "report.json").read_text())
    assert report["interval_model"] == str(model)
    (m,) = report["scenarios"]["emu-interval"]["interval"]
    c = m["ring_counters"]
    assert c["records"] == 0 and c["verdicts_in"] == 0  # the interval tier alone
    assert c["ivl_records"] > 2 / 0.016 * 0.8
    assert c["res_accepted"] > 0.8 * c["ivl_records"]
    for name in ("res_rej_seq", "res_rej_stale", "res_rej_queue", "res_rej_field"):
        assert c[name] == 0, name
    assert m["C"]["packets"] > 1000 and m["utilisation"] > 0.3


SCENARIO = """
name = "emu-interval"
duration_s = 3
[bottleneck]
rate_mbps = 10
buffer_pkts = 500
[[flows]]
kind = "cubic"
ecn = true
rtt_ms = 20
"""
