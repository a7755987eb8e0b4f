"""The running daemon as one value, and the reload as "build a new one, then swap".

A :class:`DaemonState` is everything a configuration makes of the daemon
on its ring: its loops (:attr:`DaemonState.loops`: the per-packet loop,
the interval loop, or both, as ``inference.mode`` says), the teacher, the
telemetry endpoints.  :func:`build_state` makes one *aside*: it loads and
probes the models (the per-packet one, the interval one, a live teacher),
loads the teacher, binds changed endpoints -- without touching the ring,
so a reload may change ``inference.mode`` or the interval policy too.  At
start-up a model that fails is tolerated (policy off, the kernel decides,
the model is retried); on a reload any failure is a :class:`BuildError`
and the running state stays.  :func:`swap` then hands the ring over
between two batches: the old loops retire, the new ones attach, the
statistics carry over (and, on the same ring, the queues' counters and
interval history), telemetry parts whose endpoint did not change are kept
and the others closed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aqmllm.bridge.ring import Ring
from aqmllm.daemon import pidfile
from aqmllm.daemon.config import Config
from aqmllm.daemon.interval_loop import IntervalLoop, IntervalSettings
from aqmllm.daemon.interval_policies import IntervalPolicy, load_model, make_interval_policy
from aqmllm.daemon.loop import InferenceLoop, LoopSettings
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
    loop: InferenceLoop | None  # the per-packet loop (mode packet or both)
    teacher: TeacherLoop | None
    telemetry: Telemetry
    mode: str = "packet"
    interval: IntervalLoop | None = None  # the interval loop (mode interval or both)
    # Every loop on the ring, stepped in this order by the driver.
    loops: tuple[Any, ...] = ()

    def __post_init__(self) -> None:
        if not self.loops:
            self.loops = tuple(x for x in (self.loop, self.interval) if x is not None)


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


def interval_factory(cfg: Config, strict: bool = False) -> Callable[[], IntervalPolicy]:
    """The [interval] policy; with teacher.mode = "live", the teacher with it as its fallback.

    ``strict`` (a reload): a live teacher that cannot be loaded fails the build.
    """

    def build() -> IntervalPolicy:
        student = make_interval_policy(cfg)
        if cfg["teacher.mode"] != "live":
            return student
        from aqmllm.daemon.live_teacher import LiveTeacher

        path = cfg["teacher.model"]
        live = LiveTeacher(
            lambda: load_model(path),
            student,
            cfg["teacher.live_deadline_ms"] / 1000,
            cfg["inference.retry_after_s"],
        )
        if strict and live.teacher is None:
            live.close()
            raise PolicyError(f"teacher.model: {live.last_error}")
        return live

    return build


def _model_label(cfg: Config) -> str:
    if cfg["inference.policy"] == "model":
        return f"model:{cfg['inference.model']}"
    return str(cfg["inference.policy"])


def _interval_label(cfg: Config) -> str:
    if cfg["interval.policy"] == "model":
        return f"model:{cfg['interval.model']}"
    return str(cfg["interval.policy"])


def _teacher(cfg: Config, loop: InferenceLoop | None, strict: bool) -> TeacherLoop | None:
    """The teacher loop of teacher.mode = "policies" (a live teacher is the interval policy)."""
    path = cfg["teacher.model"]
    if not path or cfg["teacher.mode"] != "policies" or loop is None:
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
    mode = cfg["inference.mode"]
    built: list[Any] = []  # what a failure further on must close again
    try:
        loop = _packet_loop(cfg, ring, watchdog, previous) if mode != "interval" else None
        built.append(loop)
        interval = _interval_loop(cfg, ring, watchdog, previous) if mode != "packet" else None
        built.append(interval)
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
    except BuildError:
        for done in built:
            if done is not None:
                _close_policy(done)
        raise
    return DaemonState(cfg, ring, loop, teacher, telemetry, mode, interval)


def _packet_loop(
    cfg: Config, ring: Ring, watchdog: Watchdog, previous: DaemonState | None
) -> InferenceLoop:
    strict = previous is not None
    before = previous.loop if previous is not None else None
    loop = InferenceLoop(
        ring,
        policy_factory(cfg),
        LoopSettings.from_config(cfg),
        stats=before.stats if before else None,
        watchdog=watchdog,
        attach=False,
        announce=not strict,
    )
    if loop.policy is None:
        loop.slot.model_label = _model_label(cfg)
        if strict:
            raise BuildError(loop.off_reason)
    if before is not None:
        loop.slot.adopt_history(before.slot)
        if before.ring is ring:
            loop.queues = before.queues
    return loop


def _interval_loop(
    cfg: Config, ring: Ring, watchdog: Watchdog, previous: DaemonState | None
) -> IntervalLoop:
    strict = previous is not None
    loop = IntervalLoop(
        ring,
        interval_factory(cfg, strict),
        IntervalSettings.from_config(cfg),
        watchdog=watchdog,
        previous=previous.interval if previous is not None else None,
        attach=False,
        announce=not strict,
    )
    if loop.policy is None:
        loop.slot.model_label = _interval_label(cfg)
        if strict:
            raise BuildError(f"interval: {loop.off_reason}")
    return loop


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
            loop.rebase(ring)
    for loop in old.loops:
        loop.retire()
        _close_policy(loop)
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


def _close_policy(loop: Any) -> None:
    close = getattr(loop.policy, "close", None)  # a remote policy's socket, a live teacher's pool
    if callable(close):
        close()


def retire(state: DaemonState) -> None:
    """At exit: the teacher stops, the policies close, the ring is detached, telemetry closed."""
    if state.teacher is not None:
        state.teacher.stop()
    for loop in state.loops:
        _close_policy(loop)
    rings = {id(loop.ring): loop.ring for loop in state.loops}  # a loop may have followed
    for ring in rings.values():  # a restarted producer to a new ring
        ring.close()
    state.telemetry.close()
