"""SIGHUP is transactional: all of the new configuration, model and telemetry, or none."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from daemon_procs import (
    SHIPPED,
    attached,
    build_producer,
    daemon,
    free_port,
    metric,
    producer,
    scrape,
    stop,
    wait_for,
)


@pytest.fixture(scope="module", autouse=True)
def built() -> None:
    build_producer()


def _config(
    path: Path, ring: Path, model: str, port: int, pub: str = "", interval: str = ""
) -> None:
    """``interval``: the [interval] table's lines; given, the daemon runs both tiers."""
    mode = 'mode = "both"\n' if interval else ""
    path.write_text(
        f'[ring]\npath = "{ring}"\n'
        f'[inference]\n{mode}policy = "model"\nmodel = "{model}"\n'
        f'[telemetry]\nzmq_pub = "{pub}"\nprometheus_port = {port}\n'
        + (f"[interval]\n{interval}" if interval else "")
    )


class Running:
    def __init__(self, tmp_path: Path, port: int) -> None:
        self.ring = tmp_path / "ring"
        self.cfg = tmp_path / "aqmllmd.toml"
        _config(self.cfg, self.ring, str(SHIPPED), port)
        self.prod = producer(self.ring, 30.0, 5000)
        wait_for(self.ring.exists, what="the ring")
        self.log = tmp_path / "aqmllmd.log"
        self.daemon = daemon(self.ring, config=self.cfg, log=self.log)
        wait_for(lambda: attached(self.ring, self.daemon.pid), what="the daemon")
        wait_for(lambda: scrape(port) is not None, what="the metrics endpoint")

    def hup(self) -> None:
        os.kill(self.daemon.pid, signal.SIGHUP)

    def logged(self, text: str) -> bool:
        return text in self.log.read_text()

    def close(self) -> str:
        rc, _ = stop(self.daemon)
        self.prod.send_signal(signal.SIGINT)
        self.prod.communicate(timeout=30)
        err = self.log.read_text()
        assert rc == 0 and "Traceback" not in err, err
        return err


def _verdicts(port: int) -> float:
    text = scrape(port)
    assert text is not None
    return sum(
        metric(text, f'aqmllm_verdicts_total{{action="{a}"}}') for a in ("pass", "drop", "mark")
    )


def test_a_reload_that_loses_the_model_keeps_the_running_one(tmp_path: Path) -> None:
    port, new_port = free_port(), free_port()
    run = Running(tmp_path, port)
    try:
        _config(run.cfg, run.ring, str(tmp_path / "no-model-here"), new_port)
        run.hup()
        wait_for(lambda: run.logged("reload failed"), what="the reload")
        text = scrape(port)
        assert text is not None and metric(text, "aqmllm_policy_on") == 1
        assert 'model="model:student-ns3-v1"' in text
        assert scrape(new_port) is None  # the new telemetry never opened
        before = _verdicts(port)
        wait_for(lambda: _verdicts(port) > before, what="more verdicts")  # still deciding
    finally:
        err = run.close()
    assert "SIGHUP: reload failed, the running configuration stays" in err
    assert "no model manifest" in err and "reloaded" not in err
    assert "policy off" not in err  # the running policy never went off


def test_a_reload_swaps_everything_telemetry_included(tmp_path: Path) -> None:
    port, new_port = free_port(), free_port()
    run = Running(tmp_path, port)
    try:
        _config(run.cfg, run.ring, str(SHIPPED), new_port)
        run.hup()
        wait_for(lambda: scrape(new_port) is not None, what="the new metrics port")
        wait_for(lambda: scrape(port) is None, what="the old port to close")
        before = _verdicts(new_port)
        wait_for(lambda: _verdicts(new_port) > before, what="more verdicts")
        # The statistics carried over: the counters did not start again from zero.
        assert metric(scrape(new_port) or "", "aqmllm_records_total") > 0
    finally:
        err = run.close()
    assert "SIGHUP: reloaded: policy model:student-ns3-v1" in err
    assert f"127.0.0.1:{new_port}/metrics" in err


@pytest.mark.parametrize(
    "change, why",
    [
        ("pub", "telemetry.zmq_pub 'garbage': cannot bind"),
        ("ring", "changing the ring needs a restart"),
    ],
)
def test_a_reload_with_bad_telemetry_or_a_new_ring_is_refused(
    tmp_path: Path, change: str, why: str
) -> None:
    port = free_port()
    run = Running(tmp_path, port)
    try:
        if change == "pub":
            _config(run.cfg, run.ring, str(SHIPPED), port, pub="garbage")
        else:
            _config(run.cfg, tmp_path / "other-ring", str(SHIPPED), port)
        run.hup()
        wait_for(lambda: run.logged("reload failed"), what="the reload")
        before = _verdicts(port)
        wait_for(lambda: _verdicts(port) > before, what="more verdicts")
    finally:
        err = run.close()
    assert "reload failed" in err and why in err, err


def test_a_reload_that_adds_the_interval_tier(tmp_path: Path) -> None:
    """inference.mode packet -> both on SIGHUP: the interval loop is built aside and swapped
    in; one whose model cannot be had fails the reload and changes nothing."""
    port = free_port()
    run = Running(tmp_path, port)
    nonzero = 'aqmllm_interval_decisions_total{residual="nonzero"}'
    try:
        bad = f'policy = "model"\nmodel = "{tmp_path / "no-interval-model"}"\n'
        _config(run.cfg, run.ring, str(SHIPPED), port, interval=bad)
        run.hup()
        wait_for(lambda: run.logged("reload failed"), what="the failed reload")
        assert 'mode="packet"' in (scrape(port) or "")
        _config(run.cfg, run.ring, str(SHIPPED), port, interval='policy = "constant"\nmult_c = 1\n')
        run.hup()
        wait_for(lambda: run.logged("SIGHUP: reloaded"), what="the reload")
        wait_for(lambda: metric(scrape(port) or f"{nonzero} 0", nonzero) > 0, what="residuals")
        text = scrape(port) or ""
        assert 'mode="both"' in text and 'interval_model="constant(c=+1)"' in text
        before = _verdicts(port)
        wait_for(lambda: _verdicts(port) > before, what="more verdicts")  # both tiers decide
    finally:
        err = run.close()
    assert "interval: cannot load the interval policy" in err
    assert "SIGHUP: reloaded: policy model:student-ns3-v1, interval policy constant(c=+1)" in err
    assert "mode both" in err
