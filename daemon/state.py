"""The running daemon as one value, and the reload as "build a new one, then swap".

A :class:`DaemonState` is everything a configuration makes of the daemon
on its ring: the loops (today the per-packet loop; an interval loop joins
:attr:`DaemonState.loops` beside it), the teacher, the telemetry
endpoints.  :func:`build_state` makes one *aside*: it loads and probes the
model, loads the teacher, binds changed endpoints -- without touching the
ring.  At start-up a model that fails is tolerated (policy off, the kernel
decides, the model is retried); on a reload any failure is a
:class:`BuildError` and the running state stays.  :func:`swap` then hands
the ring over between two batches: the old loops retire, the new ones
attach, the statistics carry over, telemetry parts whose endpoint did not
change are kept and the others closed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aqmllm.bridge.ring import Ring
from aqmllm.daemon import pidfile
from aqmllm.daemon.config import Config
from aqmllm.daemon.loop import InferenceLoop, LoopSettings, queue_stats_for
from aqmllm.daemon.policies import Policy, PolicyError, make_policy
from aqmllm.daemon.teacher import TeacherLoop
from aqmllm.daemon.telemetry import Telemetry, TelemetryError
from aqmllm.daemon.watchdog import Watchdog

log = logging.getLogger("aqmllmd")


class BuildError(RuntimeError):
    """A daemon state could not be built; the running one (if any) stays."""


@dataclass
class DaemonState:
    cfg: Config
    ring: Ring
    loop: InferenceLoop  # the per-packet loop
    teacher: TeacherLoop | None
    telemetry: Telemetry
    mode: str = "packet"
    # Every loop on the ring, stepped in this order by the driver (an interval loop joins here).
    loops: tuple[InferenceLoop, ...] = ()

    def __post_init__(self) -> None:
        if not self.loops:
            self.loops = (self.loop,)


class StateHolder:
    """The current state; telemetry reads it through ``view()`` (None until the first is built)."""

    def __init__(self) -> None:
        self.current: DaemonState | None = None

    def view(self) -> DaemonState | None:
        return self.current

    def get(self) -> DaemonState:
        assert self.current is not None, "no daemon state yet"
        return self.current


def policy_factory(cfg: Config) -> Callable[[], Policy]:
    def build() -> Policy:
        local = make_policy(cfg["inference.policy"], cfg["inference.model"])
        if not cfg["inference.endpoint"]:
            return local
        from aqmllm.daemon.remote import RemotePolicy

        keys = {
            k: cfg[f"inference.{k}"]
            for k in ("server_public_key", "client_secret_key", "client_public_key")
        }
        return RemotePolicy(
            cfg["inference.endpoint"], cfg["inference.remote_timeout_ms"], local, keys
        )

    return build


def _model_label(cfg: Config) -> str:
    if cfg["inference.policy"] == "model":
        return f"model:{cfg['inference.model']}"
    return str(cfg["inference.policy"])


def _teacher(cfg: Config, loop: InferenceLoop, strict: bool) -> TeacherLoop | None:
    path = cfg["teacher.model"]
    if not path:
        return None
    if strict:  # a reload loads (and probes) the teacher before it swaps
        try:
            model = make_policy("model", path)
        except PolicyError as exc:
            raise BuildError(f"teacher.model: {exc}") from None
        factory: Callable[[], Any] = lambda: model  # noqa: E731
    else:
        factory = lambda: make_policy("model", path)  # noqa: E731
    return TeacherLoop(
        loop,
        factory,
        interval_s=cfg["teacher.interval_ms"] / 1000,
        ttl_ns=cfg["teacher.policy_ttl_ms"] * 1_000_000,
        retry_after_s=cfg["inference.retry_after_s"],
    )


def build_state(
    cfg: Config,
    ring: Ring,
    watchdog: Watchdog,
    view: Callable[[], Any],
    previous: DaemonState | None = None,
) -> DaemonState:
    """A new state on ``ring``, built aside; strict (all or nothing) when it replaces one."""
    strict = previous is not None
    if previous is not None:
        if cfg["ring.path"] != previous.cfg["ring.path"]:
            raise BuildError(
                f"ring.path {cfg['ring.path']!r}: changing the ring needs a restart"
                f" (still on {previous.cfg['ring.path']})"
            )
        if cfg["daemon.pidfile"] != previous.cfg["daemon.pidfile"]:
            why = pidfile.problem(cfg["daemon.pidfile"])
            if why:
                raise BuildError(why)
    loop = InferenceLoop(
        ring,
        policy_factory(cfg),
        LoopSettings.from_config(cfg),
        stats=previous.loop.stats if previous else None,
        watchdog=watchdog,
        attach=False,
        announce=not strict,
    )
    if loop.policy is None:
        loop.slot.model_label = _model_label(cfg)
        if strict:
            raise BuildError(loop.off_reason)
    if previous is not None:
        loop.slot.adopt_history(previous.loop.slot)
        if previous.loop.ring is ring:
            loop.queues = previous.loop.queues
    teacher = _teacher(cfg, loop, strict)
    try:
        telemetry = Telemetry(
            view,
            cfg["telemetry.zmq_pub"],
            cfg["telemetry.prometheus_port"],
            cfg["telemetry.prometheus_bind"],
            reuse=previous.telemetry if previous else None,
        )
    except TelemetryError as exc:
        raise BuildError(str(exc)) from None
    return DaemonState(cfg, ring, loop, teacher, telemetry)


def activate(state: DaemonState) -> None:
    """The state takes the ring: its loops attach, its teacher starts."""
    for loop in state.loops:
        loop.activate()
    if state.teacher is not None:
        state.teacher.start()


def swap(old: DaemonState, new: DaemonState) -> None:
    """Between two batches: the new state takes over, the old lets go."""
    ring = old.loops[0].ring
    if new.ring is not ring:  # the producer restarted while the new state was built
        new.ring = ring
        for loop in new.loops:
            loop.ring, loop.queues = ring, queue_stats_for(ring)
    for loop in old.loops:
        loop.retire()
        close = getattr(loop.policy, "close", None)  # a remote policy's socket
        if callable(close):
            close()
    if old.teacher is not None:
        old.teacher.stop(wait=False)
    activate(new)
    old.telemetry.close(keep=new.telemetry, wait=False)
    old_pid, new_pid = old.cfg["daemon.pidfile"], new.cfg["daemon.pidfile"]
    if old_pid != new_pid:
        try:
            pidfile.write(new_pid)
        except pidfile.PidfileError as exc:
            log.error("%s", exc)
        pidfile.remove(old_pid)


def retire(state: DaemonState) -> None:
    """At exit: the teacher stops, the ring is detached, telemetry closed."""
    if state.teacher is not None:
        state.teacher.stop()
    rings = {id(loop.ring): loop.ring for loop in state.loops}  # a loop may have followed
    for ring in rings.values():  # a restarted producer to a new ring
        ring.close()
    state.telemetry.close()
