"""aqmllmd --check-config checks meaning, one line per problem, with overrides alone too."""

from __future__ import annotations

import os
import socket
import struct
import subprocess
import sys
from pathlib import Path

import pytest
import zmq
from aqmllm.daemon.check import run_check
from daemon_procs import SHIPPED
from shm_producer import ShmProducer


def _check(capsys: pytest.CaptureFixture[str], *overrides: str, path: str | None = None):
    rc = run_check(path, list(overrides))
    out = capsys.readouterr()
    return rc, out.out, [ln for ln in out.err.splitlines() if ": note: " not in ln]


@pytest.fixture
def ring(producer: ShmProducer, tmp_path: Path) -> str:
    return f"ring.path={tmp_path / 'ring'}"


@pytest.fixture
def quiet() -> list[str]:
    return ["telemetry.zmq_pub=", "telemetry.prometheus_port=0"]


def test_a_sound_configuration_is_ok(capsys, ring: str, quiet: list[str]) -> None:
    rc, out, err = _check(
        capsys, ring, *quiet, "inference.policy=model", f"inference.model={SHIPPED}"
    )
    assert rc == 0 and err == [], err
    assert out.strip() == "defaults with --set ring.path, telemetry.zmq_pub," \
        " telemetry.prometheus_port, inference.policy, inference.model: ok"  # fmt: skip


@pytest.mark.parametrize(
    "overrides, problem",
    [
        (["inference.policy=model", "inference.model=/nonexistent"], "no model manifest here"),
        (["telemetry.zmq_pub=garbage"], "expected tcp://HOST:PORT or ipc://PATH"),
        (["telemetry.zmq_pub=tcp://127.0.0.1:99999"], "port '99999' is not 1..65535"),
        (["inference.endpoint=tcp://no-such-host.invalid:5558"], "does not resolve"),
        (["inference.endpoint=tcp://10.1.2.3:5558"], "off the loopback: CURVE keys are required"),
        (["server.bind=tcp://0.0.0.0:5558"], "aqmllmd --serve needs server.secret_key"),
        (["daemon.pidfile=/nonexistent/dir/aqmllmd.pid"], "directory /nonexistent/dir does not"),
        (["daemon.pidfile=/tmp/aqmllmd-test-init.pid"], "names running process 1"),
        (["inference.client_secret_key=tooshort"], "not a CURVE key"),
        (
            ["inference.mode=interval", "interval.policy=model", "interval.model=/nonexistent"],
            "interval.model '/nonexistent': /nonexistent: no model manifest here",
        ),
        (
            ["inference.mode=both", "interval.policy=model", f"interval.model={SHIPPED}"],
            "a model for the packet tier (mode 'packet'",
        ),
        (
            ["inference.mode=interval", "teacher.mode=live", f"teacher.model={SHIPPED}"],
            "teacher.model",
        ),
    ],
)
def test_each_problem_is_named(
    capsys, ring: str, quiet: list[str], overrides: list[str], problem: str
) -> None:
    if "init.pid" in overrides[0]:
        Path("/tmp/aqmllm-test-init.pid").write_text("1\n")
        overrides = ["daemon.pidfile=/tmp/aqmllm-test-init.pid"]
    try:
        rc, out, err = _check(capsys, ring, *quiet, *overrides)
    finally:
        Path("/tmp/aqmllm-test-init.pid").unlink(missing_ok=True)
    assert rc == 2 and out == ""
    assert any(problem in line for line in err[:-1]), err  # one line each, then the count
    assert err[-1].endswith(f": {len(err) - 1} problem" + ("s" if len(err) > 2 else ""))


def test_curve_keys_that_do_not_match(capsys, ring: str, quiet: list[str]) -> None:
    server_pub, _ = (k.decode() for k in zmq.curve_keypair())
    pub, _ = (k.decode() for k in zmq.curve_keypair())
    _, secret = (k.decode() for k in zmq.curve_keypair())
    keys = [
        "inference.endpoint=tcp://192.0.2.7:5558",
        f"inference.server_public_key={server_pub}",
        f"inference.client_secret_key={secret}",
        f"inference.client_public_key={pub}",
    ]
    rc, _, err = _check(capsys, ring, *quiet, *keys)
    assert rc == 2 and "does not belong to inference.client_secret_key" in err[0]
    good_pub = zmq.curve_public(secret.encode()).decode()
    rc, _, err = _check(capsys, ring, *quiet, *keys[:3], f"inference.client_public_key={good_pub}")
    assert rc == 0, err


def test_ring_kinds(capsys, producer: ShmProducer, tmp_path: Path, quiet: list[str]) -> None:
    cases = {
        str(tmp_path): "is a directory",
        "/dev/null": "a character device; the aqmllm device exists only on FreeBSD",
        "/etc/hostname": "too small to be a ring",
        "/nonexistent-dir/ring": "directory /nonexistent-dir does not exist",
    }
    other = tmp_path / "other-abi"
    blob = bytearray((tmp_path / "ring").read_bytes())
    struct.pack_into("<I", blob, 8, 99)  # abi_version
    other.write_bytes(bytes(blob))
    cases[str(other)] = "ring ABI version 99"
    for path, problem in cases.items():
        rc, _, err = _check(capsys, f"ring.path={path}", *quiet)
        assert rc == 2 and problem in err[0], (path, err)
    # Not there yet: a note, not a problem (the producer or the module makes it).
    rc = run_check(None, [f"ring.path={tmp_path / 'later'}", *quiet])
    assert rc == 0 and "note: ring.path" in capsys.readouterr().err


def test_a_telemetry_port_in_use(capsys, ring: str) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        rc, _, err = _check(capsys, ring, "telemetry.zmq_pub=", f"telemetry.prometheus_port={port}")
        assert rc == 2 and f"cannot listen on 127.0.0.1:{port}" in err[0]
        rc, _, err = _check(
            capsys, ring, "telemetry.prometheus_port=0", f"telemetry.zmq_pub=tcp://127.0.0.1:{port}"
        )
        assert rc == 2 and f"telemetry.zmq_pub: cannot listen on 127.0.0.1:{port}" in err[0]


def test_every_problem_gets_its_line(capsys, tmp_path: Path) -> None:
    cfg = tmp_path / "aqmllmd.toml"
    cfg.write_text(
        f'[ring]\npath = "{tmp_path}"\n[inference]\npolicy = "model"\nmodel = "/nope"\n'
        '[telemetry]\nzmq_pub = "garbage"\nprometheus_port = 0\n'
    )
    rc, _, err = _check(capsys, path=str(cfg))
    assert rc == 2 and len(err) == 4 and err[-1] == f"aqmllmd: {cfg}: 3 problems"
    assert all(line.startswith(f"aqmllmd: {cfg}: ") for line in err)


def test_the_command_line(tmp_path: Path) -> None:
    p = subprocess.run(
        [sys.executable, "-m", "aqmllm.daemon.main", "--check-config",
         "--set", f"ring.path={tmp_path}", "--set", "telemetry.prometheus_port=0",
         "--set", "telemetry.zmq_pub="],
        capture_output=True, text=True, timeout=120, env={**os.environ},
    )  # fmt: skip
    assert p.returncode == 2 and "is a directory" in p.stderr and "Traceback" not in p.stderr


def test_only_the_tiers_the_mode_runs_are_checked(capsys, ring: str, quiet: list[str]) -> None:
    """An interval model is not loaded in packet mode, nor a per-packet one in interval mode."""
    rc, _, err = _check(
        capsys, ring, *quiet, "interval.policy=model", "interval.model=/nonexistent"
    )
    assert rc == 0 and err == [], err
    rc, _, err = _check(
        capsys, ring, *quiet, "inference.mode=interval", "inference.policy=model",
        "inference.model=/nonexistent",
    )  # fmt: skip
    assert rc == 0 and err == [], err
