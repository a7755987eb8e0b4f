"""aqmllmd's metrics as Prometheus itself sees them: promtool's lint and a real server's scrape.

Both tools come with the Debian package ``prometheus`` (``make system-deps``
installs it, best effort); the tests skip, saying so, where it is missing.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
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

NEED = "(Debian package prometheus; `make system-deps` installs it)"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, str]]:
    """A daemon of both tiers: the shipped student per packet, a constant residual per
    interval; its metrics on a free port."""
    build_producer()
    tmp = tmp_path_factory.mktemp("prom")
    ring, port = tmp / "ring", free_port()
    prod = producer(ring, 120.0, 5000)
    wait_for(ring.exists, what="the ring")
    d = daemon(
        ring,
        "--set", "inference.policy=model", "--set", f"inference.model={SHIPPED}",
        "--set", "inference.mode=both", "--set", "interval.policy=constant",
        "--set", "interval.mult_c=1", "--set", f"telemetry.prometheus_port={port}",
        log=tmp / "aqmllmd.log",
    )  # fmt: skip
    try:
        wait_for(lambda: attached(ring, d.pid), what="the daemon")
        wait_for(
            lambda: metric(scrape(port) or "aqmllm_batches_total 0", "aqmllm_batches_total") > 10,
            what="decisions",
        )
        wait_for(lambda: "aqmllm_sojourn_seconds_count" in (scrape(port) or ""), what="samples")
        nonzero = 'aqmllm_interval_decisions_total{residual="nonzero"}'
        wait_for(lambda: metric(scrape(port) or f"{nonzero} 0", nonzero) > 0, what="residuals")
        yield port, (tmp / "aqmllmd.log").as_posix()
    finally:
        stop(d)
        prod.send_signal(signal.SIGINT)
        prod.communicate(timeout=30)


def test_promtool_finds_nothing_to_lint(live: tuple[int, str]) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip(f"promtool is not installed {NEED}")
    port, _ = live
    text = scrape(port)
    assert text is not None
    p = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True)
    assert p.returncode == 0 and p.stdout.strip() == "" and p.stderr.strip() == "", (
        p.stdout + p.stderr
    )
    # What the issue asked for, present by name.
    for name in (
        "aqmllm_build_info", "aqmllm_heartbeat_age_seconds", "aqmllm_fallback_episodes_total",
        "aqmllm_fallback_seconds_total", "aqmllm_batches_total", "aqmllm_ring_resyncs_total",
        "aqmllm_verdicts_skipped_total", "aqmllm_ring_verdicts_rejected_total",
        "aqmllm_model_latency_seconds_bucket", "aqmllm_sojourn_seconds_bucket",
        # the interval tier's
        "aqmllm_interval_policy_on", "aqmllm_interval_decisions_total",
        "aqmllm_interval_residuals_late_total", "aqmllm_interval_model_latency_seconds_bucket",
        "aqmllm_queue_residual_log2_multiplier", "aqmllm_ring_residuals_accepted_total",
        "aqmllm_ring_residuals_clamped_total", "aqmllm_ring_interval_records_total",
    ):  # fmt: skip
        assert f"\n{name}" in text, name


def _query(api: str, expr: str) -> dict:
    url = f"{api}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.loads(r.read())


def test_a_real_prometheus_scrapes_the_daemon(live: tuple[int, str], tmp_path: Path) -> None:
    server = shutil.which("prometheus")
    if server is None:
        pytest.skip(f"the prometheus server is not installed {NEED}")
    port, _ = live
    web = free_port()
    cfg = tmp_path / "prometheus.yml"
    cfg.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        "scrape_configs:\n  - job_name: aqmllmd\n"
        f"    static_configs:\n      - targets: ['127.0.0.1:{port}']\n"
    )
    log = open(tmp_path / "prometheus.log", "w")  # noqa: SIM115
    prom = subprocess.Popen(
        [server, f"--config.file={cfg}", f"--storage.tsdb.path={tmp_path / 'data'}",
         f"--web.listen-address=127.0.0.1:{web}"],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    api = f"http://127.0.0.1:{web}"
    found: dict = {}
    try:
        end = time.monotonic() + 60
        while time.monotonic() < end and prom.poll() is None:
            try:
                found = _query(api, "aqmllm_records_total")
            except OSError:
                found = {}
            if found.get("status") == "success" and found["data"]["result"]:
                break
            time.sleep(0.5)
        assert prom.poll() is None, (tmp_path / "prometheus.log").read_text()[-2000:]
        result = found["data"]["result"]
        assert result, f"no series after 60 s: {found}"
        series = result[0]
        assert series["metric"]["job"] == "aqmllmd"
        assert series["metric"]["instance"] == f"127.0.0.1:{port}"
        assert float(series["value"][1]) > 0
        info = _query(api, "aqmllm_build_info")["data"]["result"][0]["metric"]
        assert info["model"] == "model:student-ns3-v1" and info["mode"] == "both"
        assert info["interval_model"] == "constant(c=+1)"
        residual = _query(api, 'aqmllm_queue_residual_log2_multiplier{class="C",queue="0"}')
        assert float(residual["data"]["result"][0]["value"][1]) == 1.0  # x2 on C, in effect
        up = _query(api, 'up{job="aqmllmd"}')["data"]["result"][0]["value"][1]
        assert up == "1"
        print(json.dumps(found))  # the scrape, as the query API returns it
    finally:
        prom.terminate()
        try:
            prom.wait(15)
        except subprocess.TimeoutExpired:
            prom.kill()
        log.close()
