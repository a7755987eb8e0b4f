"""Telemetry of aqmllmd: a ZeroMQ PUB socket (msgpack) and a Prometheus endpoint.

The PUB socket carries a snapshot dict (decisions by action and source,
late and lost verdicts, model latency percentiles, fallback episodes,
per-queue counters and sojourn percentiles, the producer's counters; with
the interval tier its own part: rounds, residuals written, late, failures,
decision latency and answer delay, per queue the residual in effect and
the one last written, the producer's residual counters, a live teacher's
rounds);
the HTTP endpoint serves :mod:`aqmllm.daemon.metrics` through
prometheus_client, on ``telemetry.prometheus_bind`` (loopback by default).

Both read the running daemon through ``view()`` at the time they send, so
a reload that swaps the daemon's state needs no telemetry of its own --
unless the endpoints change: :meth:`Telemetry.build` then binds the new
ones aside (and keeps the parts whose endpoint is unchanged), so a port
that cannot be had fails the reload, not the daemon.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgpack
import zmq
from aqmllm.daemon.metrics import registry_for
from prometheus_client.exposition import start_http_server

log = logging.getLogger("aqmllmd")


class TelemetryError(RuntimeError):
    """A telemetry endpoint cannot be had (bad endpoint, port in use)."""


@dataclass
class LoopView:
    """A daemon of one loop, as telemetry reads it (tests, simulators)."""

    loop: Any
    teacher: Any = None
    mode: str = "packet"
    interval: Any = None

    @classmethod
    def of(cls, source: Any, teacher: Any = None) -> Any:
        """A daemon view (``.loop``, ``.interval``, ``.teacher``, ``.mode``) as it is, or
        one made of a bare loop (either tier's)."""
        if hasattr(source, "loop"):
            return source
        if getattr(source, "kind", "packet") == "interval":
            return cls(None, teacher, "interval", source)
        return cls(source, teacher)


def snapshot(source: Any, teacher: Any | None = None) -> dict[str, Any]:
    """The PUB snapshot of a daemon view or of a bare loop."""
    view = LoopView.of(source, teacher)
    ring = (view.loop or view.interval).ring
    producer = ring.counters()
    snap: dict[str, Any] = {
        "time": time.time(),
        "mode": view.mode,
        "heartbeat_age_ns": ring.heartbeat_age_ns(),
        "producer": producer,
    }
    if view.loop is not None:
        snap |= _packet_part(view.loop, producer)
    if view.interval is not None:
        snap["interval"] = _interval_part(view.interval, producer)
    t = view.teacher
    if t is not None:
        snap["teacher"] = {
            "on": t.teacher is not None,
            "rounds": t.rounds,
            "failures": t.failures,
            "last_error": t.last_error,
            "latency_ms": t.latency_s * 1000,
        }
    return snap


def _packet_part(loop: Any, producer: dict[str, int]) -> dict[str, Any]:
    s = loop.stats
    return {
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
        "fallback_episodes": loop.slot.episodes,
        "fallback_seconds": loop.slot.off_seconds(),
        "by_action": dict(s.by_action),
        "model_latency": s.latency_percentiles(),
        # Where the packet path's decisions came from (the producer's count).
        "by_source": {k: producer[f"src_{k}"] for k in ("verdict", "policy", "fallback")},
        "queues": loop.queues.snapshot(),
    }


def _interval_part(loop: Any, producer: dict[str, int]) -> dict[str, Any]:
    snap = loop.snapshot()
    snap["producer"] = {k: v for k, v in producer.items() if k.startswith(("res_", "ivl_"))}
    live = getattr(loop.policy, "snapshot", None)  # a live teacher's rounds
    if callable(live):
        snap["live_teacher"] = live()
    return snap


class Publisher:
    """The ZeroMQ PUB socket: one msgpack snapshot every ``interval_s``."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self._sock = zmq.Context.instance().socket(zmq.PUB)
        self._sock.setsockopt(zmq.LINGER, 0)
        try:
            self._sock.bind(endpoint)
        except zmq.ZMQError as exc:
            self._sock.close()
            raise TelemetryError(f"telemetry.zmq_pub {endpoint!r}: cannot bind: {exc}") from None
        self._last = 0.0

    def tick(self, view: Any, interval_s: float) -> None:
        now = time.monotonic()
        if now - self._last < interval_s:
            return
        self._last = now
        self._sock.send_multipart([b"aqmllmd", msgpack.packb(snapshot(view))])

    def close(self) -> None:
        self._sock.close()


class MetricsServer:
    """prometheus_client's HTTP server on (address, port), serving /metrics."""

    def __init__(self, address: str, port: int, view: Callable[[], Any]) -> None:
        self.address, self.port = address, port
        try:
            self._server, self._thread = start_http_server(port, address, registry_for(view))
        except OSError as exc:
            raise TelemetryError(
                f"telemetry: cannot serve Prometheus metrics on {address}:{port}:"
                f" {exc.strerror or exc}"
            ) from None

    def close(self, wait: bool = True) -> None:
        """Stop serving; ``wait=False`` does it in the background (shutdown() waits out
        the server's 0.5 s poll, which a reload must not add to the packet loop)."""
        if not wait:
            threading.Thread(target=self.close, name="prometheus-close", daemon=True).start()
            return
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5.0)


class Telemetry:
    """``Telemetry(view, pub_endpoint, http_port, http_address)``.

    ``view`` is a function returning the running daemon (``.loop``,
    ``.interval``, ``.teacher``, ``.mode``), or a bare loop of either tier.
    Empty endpoint / port 0: off.
    """

    def __init__(
        self,
        view: Callable[[], Any] | Any,
        pub_endpoint: str = "",
        http_port: int = 0,
        http_address: str = "127.0.0.1",
        *,
        reuse: Telemetry | None = None,
    ) -> None:
        if not callable(view):
            fixed = LoopView.of(view)
            view = lambda: fixed  # noqa: E731
        self.view = view
        self.pub: Publisher | None = None
        self.http: MetricsServer | None = None
        old_pub = reuse.pub if reuse is not None else None
        old_http = reuse.http if reuse is not None else None
        try:
            if pub_endpoint:
                same = old_pub is not None and old_pub.endpoint == pub_endpoint
                self.pub = old_pub if same else Publisher(pub_endpoint)
            if http_port:
                same = old_http is not None and (old_http.address, old_http.port) == (
                    http_address,
                    http_port,
                )
                self.http = old_http if same else MetricsServer(http_address, http_port, view)
        except TelemetryError:
            self.close(keep=reuse)
            raise

    def tick(self, interval_s: float) -> None:
        view = self.view() if self.pub is not None else None
        if view is not None:
            self.pub.tick(view, interval_s)  # type: ignore[union-attr]

    def close(self, keep: Telemetry | None = None, wait: bool = True) -> None:
        """Close every part, except those ``keep`` also uses."""
        kept = (keep.pub, keep.http) if keep is not None else ()
        if self.pub is not None and self.pub not in kept:
            self.pub.close()
        if self.http is not None and self.http not in kept:
            self.http.close(wait)
