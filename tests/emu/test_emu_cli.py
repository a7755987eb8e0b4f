"""`aqmllm emulate`: scenario files in, the evaluation report out; clear refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aqmllm.sim.emu.run import check_emulatable
from aqmllm.sim.emu.topology import EmuError
from aqmllm.sim.emu.traffic import available_ccs
from aqmllm.sim.emulate_cli import main
from aqmllm.sim.scenario import load_scenario

SCENARIO = """
name = "emu-cli"
duration_s = 5
[bottleneck]
rate_mbps = 10
buffer_pkts = 500
[[flows]]
kind = "cubic"
ecn = true
rtt_ms = 20
[[flows]]
kind = "udp"
ecn = "ect1"
rate_mbps = 1
rtt_ms = 10
[[rate_changes]]
at_s = 2.5
rate_mbps = 5
"""


def test_ns3_only_aqms_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sc = tmp_path / "s.toml"
    sc.write_text(SCENARIO)
    with pytest.raises(SystemExit) as exc:
        main([str(sc), "--aqm", "fq-codel", "--out", str(tmp_path)])
    assert exc.value.code == 2
    assert "fq-codel not available in the emulator" in capsys.readouterr().err


def test_missing_congestion_control_is_refused_by_name(tmp_path: Path) -> None:
    if "dctcp" in available_ccs():
        pytest.skip("this kernel has DCTCP")
    sc = tmp_path / "d.toml"
    sc.write_text(SCENARIO.replace('kind = "cubic"', 'kind = "dctcp"'))
    with pytest.raises(EmuError, match=r"flows\[0\] kind 'dctcp' needs the dctcp congestion"):
        check_emulatable(load_scenario(sc), "dualpi2")


def test_emulate_writes_the_evaluation_report(emu_env: Path, tmp_path: Path) -> None:
    sc = tmp_path / "s.toml"
    sc.write_text(SCENARIO)
    out = tmp_path / "out"
    assert main([str(sc), "--aqm", "dualpi2", "--out", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    (m,) = report["scenarios"]["emu-cli"]["dualpi2"]
    assert m["engine"] == "emulator"
    # the rate change took effect: ~10 then ~5 Mbit/s over the measured window
    assert 0.75 < m["utilisation"] < 1.05, m["utilisation"]
    # UDP ECT(1) in L, Cubic's ECT(0) in C; L stays near DualPI2's 1 ms step
    assert m["L"]["packets"] > 100 and m["C"]["packets"] > 1000
    assert m["L"]["delay_p99_ms"] < m["C"]["delay_p99_ms"]
    assert m["L"]["delay_p50_ms"] < 5
    assert m["ping_rtt_ms"]["n"] > 50
    md = (out / "report.md").read_text()
    assert md.startswith("# aqmllm evaluation (Linux emulator")
    assert "| emu-cli | dualpi2 |" in md
    assert (out / "report.csv").exists()
