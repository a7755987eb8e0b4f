"""`aqmllm evaluate` refuses bad arguments in one sentence, before any run starts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aqmllm.sim import evaluate_cli
from aqmllm.sim.scenario import SCENARIO_DIR

SCEN = str(SCENARIO_DIR / "eval" / "default.toml")


@pytest.fixture
def no_runs(monkeypatch: pytest.MonkeyPatch) -> list:
    """Fails the test if a campaign would start."""
    started: list = []
    empty = {"scenarios": {}, "failed": []}
    monkeypatch.setattr(evaluate_cli, "evaluate", lambda args: started.append(args) or (empty, 0))
    return started


def _bad_model(tmp_path: Path) -> Path:
    d = tmp_path / "broken"
    d.mkdir()
    (d / "manifest.json").write_text(json.dumps({"kind": "student", "tensors": "nope"}))
    return d


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--duration", "-5"], "--duration: '-5' is not a positive number"),
        (["--duration", "nan"], "--duration: 'nan' is not a positive number"),
        (["--latency-us", "0"], "--latency-us: '0' is not a positive number"),
        (["--workers", "0"], "--workers: '0' is not a positive integer"),
        (["--aqm", "bbr"], "unknown AQM 'bbr'"),
        (["--aqm", "fifo@5ms"], "AQM 'fifo' takes no target"),
        (["--aqm", "dualpi2@fast"], "a target is written like dualpi2@10ms"),
        (["--executor", "dask"], "--executor dask needs --address"),
        (["--address", "tcp://x:1"], "--address is for --executor dask"),
        (["--run-timeout", "0"], "--run-timeout: '0' is not a positive number"),
        (["--seeds", "0"], "--seeds: '0' is not a positive integer"),
    ],
)
def test_bad_arguments_stop_before_any_run(
    no_runs: list, capsys: pytest.CaptureFixture, tmp_path: Path, extra: list, message: str
) -> None:
    try:
        rc = evaluate_cli.main([SCEN, "--aqm", "fifo", "--out", str(tmp_path / "o"), *extra])
    except SystemExit as exc:  # argparse's own refusal: usage, then the one sentence
        rc = exc.code
    err = capsys.readouterr().err
    assert rc == 2 and message in err.strip().splitlines()[-1], err
    assert "Traceback" not in err
    assert not no_runs


def test_missing_and_corrupt_models_and_unwritable_out(
    no_runs: list, capsys: pytest.CaptureFixture, tmp_path: Path
) -> None:
    cases = [
        (["--model", str(tmp_path / "none")], "no such file or folder"),
        (["--model", str(_bad_model(tmp_path))], f"--model {tmp_path / 'broken'}:"),
    ]
    for extra, message in cases:
        rc = evaluate_cli.main([SCEN, "--aqm", "student", "--out", str(tmp_path / "o"), *extra])
        err = capsys.readouterr().err
        assert rc == 2 and message in err and "Traceback" not in err, err
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    rc = evaluate_cli.main([SCEN, "--aqm", "fifo", "--out", str(blocker / "sub")])
    err = capsys.readouterr().err
    assert rc == 2 and f"--out {blocker / 'sub'}: not writable" in err, err
    rc = evaluate_cli.main(
        [str(tmp_path / "missing.toml"), "--aqm", "fifo", "--out", str(tmp_path / "m")]
    )
    assert rc == 2 and "no such scenario file" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()  # nothing made before the arguments were checked
    assert not no_runs


def test_sweep_adds_each_classic_aqm_over_its_target(no_runs: list, tmp_path: Path) -> None:
    assert evaluate_cli.main([SCEN, "--sweep", "--out", str(tmp_path / "o")]) == 0
    (args,) = no_runs
    swept = [a for a in args.aqms if "@" in a]
    assert sorted(swept) == sorted(
        ["dualpi2@5ms", "dualpi2@10ms", "dualpi2@20ms", "dualpi2@30ms",
         "pie@5ms", "pie@10ms", "pie@20ms", "pie@30ms", "codel@2ms", "codel@10ms"]
    )  # fmt: skip
    # the default settings (DualPI2/PIE 15 ms, CoDel 5 ms, FQ-CoDel) run once, under their names
    assert {"dualpi2", "pie", "codel", "fq-codel", "student"} <= set(args.aqms)
    assert args.model_policy  # the shipped student was loaded once, up front


def test_seeds_extends_a_scenarios_own_seeds_and_keeps_them_first() -> None:
    assert evaluate_cli.seeds_of((101, 102), None) == [101, 102]
    assert evaluate_cli.seeds_of((101, 102), 5) == [101, 102, 1102, 2102, 3102]
    assert evaluate_cli.seeds_of((11, 21, 31), 2) == [11, 21]
    # derived seeds never repeat one of the scenario's own
    for own in ((1, 2), (5,), (7, 1007)):
        got = evaluate_cli.seeds_of(own, 6)
        assert len(set(got)) == 6 and list(got[: len(own)]) == list(own)
