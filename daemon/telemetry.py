"""Telemetry of aqmllmd: a ZeroMQ PUB socket (msgpack) and Prometheus text.

Both carry the same snapshot: the loop's decisions by action, late and
dropped verdicts, model latency percentiles, policy state, and the
producer's counters (decisions by source, rejections) from the ring.
The HTTP endpoint listens on loopback only.
"""

from __future__ import annotations

import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import msgpack
import zmq
from aqmllm.daemon.interval_telemetry import interval_prometheus, interval_snapshot
from aqmllm.daemon.loop import InferenceLoop

log = logging.getLogger("aqmllmd")


def snapshot(
    loop: InferenceLoop | None, teacher: Any | None = None, interval: Any | None = None
) -> dict[str, Any]:
    """The per-packet loop's part (when it runs) and the interval loop's (when it runs)."""
    ring = loop.ring if loop is not None else interval.ring
    producer = ring.counters()
    snap: dict[str, Any] = {"time": time.time(), "producer": producer}
    if interval is not None:
        snap["interval"] = interval_snapshot(interval, producer)
    if loop is None:
        return snap
    s = loop.stats
    snap |= {
        "time": time.time(),
        "policy": loop.policy.name if loop.policy else "off",
        "policy_off_reason": loop.off_reason,
        "batches": s.batches,
        "records": s.records,
        "verdicts": s.verdicts,
        "late_skipped": s.late_skipped,
        "no_space": s.no_space,
        "failures": s.failures,
        "timeouts": s.timeouts,
        "stood_still": s.stood_still,
        "policy_off_records": s.policy_off_records,
        "policies_written": s.policies_written,
        "resyncs": s.resyncs,
        "by_action": dict(s.by_action),
        "model_latency": s.latency_percentiles(),
        # Where the packet path's decisions came from (the producer's count).
        "by_source": {k: producer[f"src_{k}"] for k in ("verdict", "policy", "fallback")},
        "producer": producer,
        "queues": loop.queues.snapshot(),
    }
    if teacher is not None:
        snap["teacher"] = {
            "on": teacher.teacher is not None,
            "rounds": teacher.rounds,
            "failures": teacher.failures,
            "last_error": teacher.last_error,
            "latency_ms": teacher.latency_s * 1000,
        }
    return snap


def _counter(lines: list[str], name: str, help_: str) -> None:
    lines.append(f"# HELP {name} {help_}")
    lines.append(f"# TYPE {name} counter")


def prometheus_text(snap: dict[str, Any]) -> str:
    lines: list[str] = interval_prometheus(snap["interval"]) if "interval" in snap else []
    if "records" not in snap:  # no per-packet loop
        return "\n".join(lines) + "\n"
    for key, help_ in (
        ("records", "records read from the ring"),
        ("verdicts", "per-packet verdicts written"),
        ("late_skipped", "verdicts skipped: they would arrive after the packet left"),
        ("no_space", "verdicts lost: verdict ring full"),
        ("failures", "model failures (policy switched off)"),
        ("timeouts", "model batches slower than inference.model_timeout_ms"),
        ("stood_still", "slow batches forgiven: the whole daemon was stopped or starved"),
        ("policy_off_records", "records seen while the policy was off"),
        ("policies_written", "per-queue policies written"),
    ):
        _counter(lines, f"aqmllmd_{key}_total", help_)
        lines.append(f"aqmllmd_{key}_total {snap[key]}")
    lines += [
        "# HELP aqmllmd_policy_on 1 while the model decides, 0 while the kernel falls back",
        "# TYPE aqmllmd_policy_on gauge",
        f"aqmllmd_policy_on {0 if snap['policy'] == 'off' else 1}",
    ]
    _counter(lines, "aqmllmd_decisions_total", "verdicts written by action")
    for action, n in snap["by_action"].items():
        lines.append(f'aqmllmd_decisions_total{{action="{action}"}} {n}')
    _counter(lines, "aqmllm_decisions_by_source_total", "packet-path decisions by source")
    for src, n in snap["by_source"].items():
        lines.append(f'aqmllm_decisions_by_source_total{{source="{src}"}} {n}')
    lines.append("# TYPE aqmllmd_model_latency_us gauge")
    for q, v in snap["model_latency"].items():
        lines.append(f'aqmllmd_model_latency_us{{quantile="{q[:-3]}"}} {v:.3f}')
    _counter(lines, "aqmllm_producer_total", "the producer's counters, mirrored in the ring")
    for name, v in snap["producer"].items():
        lines.append(f'aqmllm_producer_total{{counter="{name}"}} {v}')
    _counter(lines, "aqmllmd_queue_decisions_total", "verdicts written per queue and action")
    for q, e in snap["queues"].items():
        for action in ("pass", "drop", "mark"):
            lines.append(
                f'aqmllmd_queue_decisions_total{{queue="{q}",action="{action}"}} {e[action]}'
            )
    lines.append("# TYPE aqmllmd_queue_rate gauge")
    for q, e in snap["queues"].items():
        for kind in ("drop_rate", "mark_rate"):
            lines.append(f'aqmllmd_queue_rate{{queue="{q}",kind="{kind[:-5]}"}} {e[kind]:.6f}')
    lines.append("# TYPE aqmllmd_queue_sojourn_us gauge")
    for q, e in snap["queues"].items():
        for quant, v in e.get("sojourn_us", {}).items():
            lines.append(f'aqmllmd_queue_sojourn_us{{queue="{q}",quantile="{quant}"}} {v:.3f}')
    return "\n".join(lines) + "\n"


class Telemetry:
    def __init__(
        self,
        loop: InferenceLoop | None,
        pub_endpoint: str,
        http_port: int,
        interval: Any | None = None,
    ) -> None:
        self.loop = loop
        self.interval = interval  # an IntervalLoop, when one runs
        self.teacher: Any | None = None  # a TeacherLoop, when one runs
        self._pub: zmq.Socket | None = None
        self._http: ThreadingHTTPServer | None = None
        if pub_endpoint:
            self._pub = zmq.Context.instance().socket(zmq.PUB)
            self._pub.setsockopt(zmq.LINGER, 0)
            self._pub.bind(pub_endpoint)
        if http_port:
            self._http = self._serve_http(http_port)
        self._last = 0.0

    def _serve_http(self, port: int) -> ThreadingHTTPServer:
        telemetry = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server API)
                if self.path not in ("/metrics", "/"):
                    self.send_error(404, "only /metrics is served")
                    return
                snap = snapshot(telemetry.loop, telemetry.teacher, telemetry.interval)
                body = prometheus_text(snap).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        threading.Thread(target=server.serve_forever, name="prometheus", daemon=True).start()
        return server

    def tick(self, interval_s: float) -> None:
        now = time.monotonic()
        if self._pub is None or now - self._last < interval_s:
            return
        self._last = now
        snap = snapshot(self.loop, self.teacher, self.interval)
        self._pub.send_multipart([b"aqmllmd", msgpack.packb(snap)])

    def close(self) -> None:
        if self._pub is not None:
            self._pub.close()
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
