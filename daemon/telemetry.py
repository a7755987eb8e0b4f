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
from aqmllm.daemon.loop import InferenceLoop

log = logging.getLogger("aqmllmd")


def snapshot(loop: InferenceLoop) -> dict[str, Any]:
    s = loop.stats
    return {
        "time": time.time(),
        "policy": loop.policy.name if loop.policy else "off",
        "policy_off_reason": loop.off_reason,
        "batches": s.batches,
        "records": s.records,
        "verdicts": s.verdicts,
        "late_skipped": s.late_skipped,
        "no_space": s.no_space,
        "failures": s.failures,
        "policy_off_records": s.policy_off_records,
        "by_action": dict(s.by_action),
        "model_latency": s.latency_percentiles(),
        "producer": loop.ring.counters(),
    }


def prometheus_text(snap: dict[str, Any]) -> str:
    lines = [
        "# TYPE aqmllmd_records_total counter",
        f"aqmllmd_records_total {snap['records']}",
        "# TYPE aqmllmd_verdicts_total counter",
        f"aqmllmd_verdicts_total {snap['verdicts']}",
        "# TYPE aqmllmd_late_skipped_total counter",
        f"aqmllmd_late_skipped_total {snap['late_skipped']}",
        "# TYPE aqmllmd_model_failures_total counter",
        f"aqmllmd_model_failures_total {snap['failures']}",
        "# TYPE aqmllmd_policy_on gauge",
        f"aqmllmd_policy_on {0 if snap['policy'] == 'off' else 1}",
        "# TYPE aqmllmd_decisions_total counter",
    ]
    for action, n in snap["by_action"].items():
        lines.append(f'aqmllmd_decisions_total{{action="{action}"}} {n}')
    lines.append("# TYPE aqmllmd_model_latency_us gauge")
    for q, v in snap["model_latency"].items():
        lines.append(f'aqmllmd_model_latency_us{{quantile="{q[:-3]}"}} {v:.3f}')
    lines.append("# TYPE aqmllm_producer_total counter")
    for name, v in snap["producer"].items():
        lines.append(f'aqmllm_producer_total{{counter="{name}"}} {v}')
    return "\n".join(lines) + "\n"


class Telemetry:
    def __init__(self, loop: InferenceLoop, pub_endpoint: str, http_port: int) -> None:
        self.loop = loop
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
                body = prometheus_text(snapshot(telemetry.loop)).encode()
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
        self._pub.send_multipart([b"aqmllmd", msgpack.packb(snapshot(self.loop))])

    def close(self) -> None:
        if self._pub is not None:
            self._pub.close()
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
