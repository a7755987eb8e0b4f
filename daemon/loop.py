"""The per-packet loop of aqmllmd: one batch of records, one verdict each.

A step reads as a sentence: **take** up to ``batch_size`` records (zero-copy),
keep those whose verdict can still arrive **on time** (before the packet's
expected dequeue, allowing for the expected cost of the model call),
**decide** (one model call, watched by the watchdog), **check** the answer
(valid codes, no mark on Not-ECT, within the time limit, still on time),
**write** the verdicts and hand the slots back.  A failing model switches
the loop to "policy off" -- the kernel decides with its fallback -- and is
rebuilt later (:mod:`aqmllm.daemon.policy_slot`); the loop itself never
dies of it.

The parts live in their own units: statistics (:mod:`.stats`), the cost
estimate (:mod:`.cost`), the deadline filter (:mod:`.deadline`), the
watchdog (:mod:`.watchdog`) and the blocking driver that waits on the ring,
steps the loops and follows a restarted producer (:mod:`.driver`).

Per-queue policies (from the teacher, :mod:`aqmllm.daemon.teacher`) are
handed over through :meth:`InferenceLoop.submit_policies` and written by
the loop itself, so the ring keeps a single writer.

``step(now_ns)`` can be driven on simulated time (ns-3); ``run()`` is the
blocking loop of a daemon with this one loop.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from aqmllm.bridge.ring import Ring, RingError
from aqmllm.daemon.cost import CostEstimate
from aqmllm.daemon.deadline import on_time_mask
from aqmllm.daemon.policies import Policy, PolicyError, check_actions
from aqmllm.daemon.policy_slot import PolicySlot, PolicySource
from aqmllm.daemon.stage import SlotStage, settings_of
from aqmllm.daemon.stats import LoopStats, QueueStats
from aqmllm.daemon.watchdog import CallTimer, Watchdog

log = logging.getLogger("aqmllmd")

__all__ = ["InferenceLoop", "LoopSettings", "LoopStats", "QueueStats"]

FAILED = object()  # what _decide answers for a model that raised (and is now off)


@dataclass
class LoopSettings:
    batch_size: int = 256
    max_wait_us: int = 0
    busy_poll_us: int = 0
    deadline_margin_us: int = 5
    model_timeout_ms: int = 50
    retry_after_s: float = 5.0

    @classmethod
    def from_config(cls, cfg: Any) -> LoopSettings:
        """From an :class:`aqmllm.daemon.config.Config` (its [inference] table)."""
        return cls(
            batch_size=cfg["inference.batch_size"],
            max_wait_us=cfg["inference.max_wait_us"],
            busy_poll_us=cfg["inference.busy_poll_us"],
            deadline_margin_us=cfg["inference.deadline_margin_us"],
            model_timeout_ms=cfg["inference.model_timeout_ms"],
            retry_after_s=cfg["inference.retry_after_s"],
        )


def queue_stats_for(ring: Ring) -> QueueStats:
    return QueueStats(max(1, min(ring.geometry.nqueues, 65536)))


class InferenceLoop(SlotStage):
    """``InferenceLoop(ring, policy, config)``.

    ``policy`` is a policy object, or a factory (class or function) that
    builds one; a factory is called again to recover after a failure.
    ``config`` is a :class:`LoopSettings`, a daemon ``Config``, or None.
    A daemon passes its shared ``watchdog`` and, on a reload, the running
    loop's ``stats``; ``attach=False`` builds the loop aside without
    touching the ring until :meth:`activate`.
    """

    kind = "packet"

    def __init__(
        self,
        ring: Ring,
        policy: PolicySource,
        config: LoopSettings | Any | None = None,
        *,
        stats: LoopStats | None = None,
        watchdog: Watchdog | None = None,
        attach: bool = True,
        announce: bool = True,
    ) -> None:
        self.ring = ring
        self.settings: LoopSettings = settings_of(config, LoopSettings)
        self.stats = stats if stats is not None else LoopStats()
        self.queues = queue_stats_for(ring)
        self.cost = CostEstimate()
        self.watchdog = watchdog if watchdog is not None else Watchdog(self._limit_s())
        self.timer = CallTimer(on_hang=self._on_hang)
        self.slot = PolicySlot(policy, self.settings.retry_after_s, self.stats, announce=announce)
        self._policies: deque[tuple[np.ndarray, np.ndarray, np.ndarray, int]] = deque()
        self.keep_recent = False  # the teacher reads the latest batch
        self._recent: np.ndarray | None = None
        self._stop = threading.Event()
        if attach:
            self.activate()

    # ---- the policy, as the rest of the daemon sees it ----
    def replace_policy(self, policy: PolicySource) -> None:
        """A new model without touching the ring."""
        self.slot.replace(policy)

    # ---- owning the ring ----
    def activate(self) -> None:
        """Take the ring over; this loop's model timeout is the watchdog's default limit."""
        self.watchdog.limit_s = self._limit_s()
        super().activate()

    def rebase(self, ring: Ring) -> None:
        """Before activation: work on another ring; per-ring state starts over."""
        super().rebase(ring)
        self.queues = queue_stats_for(ring)
        self._policies.clear()
        self._recent = None

    # ---- per-queue policies (teacher) ----
    def submit_policies(self, policies: dict[int, tuple[float, float]], ttl_ns: int) -> None:
        """Thread-safe: queue per-queue (drop, mark) probabilities for the ring."""
        if not policies:
            return
        q = np.fromiter(policies.keys(), dtype=np.int64, count=len(policies))
        pm = np.array(list(policies.values()), dtype=np.float64).reshape(len(policies), 2)
        if not np.isfinite(pm).all() or (pm < 0).any() or (pm > 1).any():
            raise PolicyError(f"queue policy probabilities outside [0, 1]: {pm.tolist()}")
        keep = (q >= 0) & (q < self.ring.geometry.nqueues)
        if not keep.all():
            log.warning(
                "teacher: ignoring queue ids %s (nqueues %d)",
                q[~keep].tolist(),
                self.ring.geometry.nqueues,
            )
        self._policies.append((q[keep], pm[keep, 0], pm[keep, 1], int(ttl_ns)))

    def latest_records(self) -> np.ndarray | None:
        """A copy of the most recent batch (kept while ``keep_recent``)."""
        return self._recent

    def _write_policies(self, now: int) -> None:
        while self._policies:
            q, drop, mark, ttl = self._policies.popleft()
            if len(q) == 0:
                continue
            n = self.ring.write_policies(q, drop, mark, now + ttl)
            self.stats.policies_written += n
            self.stats.no_space += len(q) - n

    # ---- one batch ----
    def step(self, now_ns: int | None = None) -> int:
        """Process one batch; returns the number of verdicts written."""
        batch = self._take(now_ns)
        if batch is None:
            return 0
        written = 0
        # The policy; a failed one is rebuilt when its retry is due.
        policy = self.slot.policy or self.slot.current()
        if policy is None:
            self.stats.policy_off_records += len(batch)
            self.queues.add_off(batch)
        else:
            clock = self.ring.producer_clock() if now_ns is None else now_ns
            # A model call is expected to take as long as recent ones typically
            # did; on simulated time it takes no time.
            expect = int(self.cost.value_ns) if now_ns is None else 0
            recs = self._on_time(batch, clock + expect)
            if len(recs) == 0:
                self.cost.decay()  # all skipped: let a stale estimate decay
            else:
                answer, t0 = self._decide(policy, recs)
                checked = None if answer is FAILED else self._check(answer, recs, t0)
                if checked is not None:
                    actions, elapsed_ns = checked
                    if now_ns is None and elapsed_ns > expect:  # slower than expected
                        recs, actions = self._still_on_time(recs, actions, clock + elapsed_ns)
                    written = self._write(recs, actions)
        self.ring.consume(len(batch))
        self.ring.heartbeat()
        return written

    def _take(self, now_ns: int | None) -> np.ndarray | None:
        """Up to batch_size records, counted; None (after a heartbeat) when there are none."""
        ring = self.ring
        try:
            views = ring.peek(self.settings.batch_size)
        except RingError as exc:
            # The producer restarted on the same file, or the indices are garbage.
            self.stats.resyncs += 1
            log.error("%s; skipping to the producer's index", exc)
            ring.resync()
            views = []
        if self._policies and self.slot.policy is not None:
            self._write_policies(ring.producer_clock() if now_ns is None else now_ns)
        if not views:
            ring.heartbeat()
            return None
        recs = views[0] if len(views) == 1 else np.concatenate(views)
        self.stats.batches += 1
        self.stats.records += len(recs)
        self.queues.add_records(recs)
        if self.keep_recent:
            self._recent = recs.copy()
        return recs

    def _on_time(self, recs: np.ndarray, now: int) -> np.ndarray:
        """The records whose packets are still queued at ``now`` + margin; the rest counted late.

        Behind a burst this is how the loop catches up with the ring: a
        record whose verdict could not arrive in time is not worth a model call.
        """
        mask, late = on_time_mask(recs, now, self.settings.deadline_margin_us * 1000)
        if mask is None:
            return recs
        self.stats.late_skipped += late
        self.queues.add_late(recs["queue_id"][~mask])
        return recs[mask]

    def _decide(self, policy: Policy, recs: np.ndarray) -> tuple[object, float]:
        """One model call under the watchdog: (its raw answer, start time).

        A model that raises is turned off here: the answer is then FAILED.
        """
        t0 = time.perf_counter()
        self.timer.busy_since = t0
        try:
            return policy.decide(recs), t0
        except PolicyError as exc:
            self.slot.off(str(exc))
        except Exception as exc:  # a model bug must not kill the loop
            self.slot.off(f"{type(exc).__name__}: {exc}")
        finally:
            self.timer.busy_since = 0.0
        return FAILED, t0

    def _check(self, answer: object, recs: np.ndarray, t0: float) -> tuple[np.ndarray, int] | None:
        """(valid actions, call time in ns), or None after turning the policy off."""
        try:
            actions = check_actions(answer, len(recs), recs)
        except PolicyError as exc:
            self.slot.off(str(exc))
            return None
        now = time.perf_counter()
        elapsed_ns = int((now - t0) * 1e9)
        model_s = self._model_seconds(t0, now)
        self.stats.latencies_us.append(model_s * 1e6)
        self.stats.latency.observe(model_s)
        self.cost.add(model_s)
        if model_s * 1000 > self.settings.model_timeout_ms:
            self.stats.timeouts += 1
            self.slot.off(
                f"batch of {len(recs)} took {(now - t0) * 1000:.1f} ms"
                f" (limit {self.settings.model_timeout_ms} ms)"
            )
            return None
        return actions, elapsed_ns

    def _model_seconds(self, t0: float, now: float) -> float:
        """The call's time, less any stretch the whole process stood still (see watchdog)."""
        return self.watchdog.charged(t0, now, self.watchdog.limit_s, self.stats)

    def _still_on_time(
        self, recs: np.ndarray, actions: np.ndarray, now: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """After a slow call: drop the verdicts that would now reach the queue too late."""
        mask, late = on_time_mask(recs, now, self.settings.deadline_margin_us * 1000)
        if mask is None:
            return recs, actions
        self.stats.late_skipped += late
        self.queues.add_late(recs["queue_id"][~mask])
        return recs[mask], actions[mask]

    def _write(self, recs: np.ndarray, actions: np.ndarray) -> int:
        written = self.ring.write_verdicts(recs["seq"], actions)
        self.stats.no_space += len(recs) - written
        self.stats.verdicts += written
        acts = actions[:written]
        self.stats.count_actions(acts)
        self.queues.add_actions(recs["queue_id"][:written], acts)
        return written

    # ---- producer restarts ----
    def follow_producer(self) -> bool:
        """Re-attach when a shm ring's producer started over with a new file.

        Returns True when the loop switched rings.  While the path is
        missing or not yet a valid ring, the old mapping is kept.
        """
        from aqmllm.daemon.driver import RingFollower

        if not hasattr(self, "_follower"):
            self._follower = RingFollower()
        return self._follower.follow([self])

    # ---- a daemon of this one loop ----
    def run(self, on_idle: Callable[[], None] | None = None) -> None:
        from aqmllm.daemon.driver import drive

        drive(lambda: [self], self.watchdog, self._stop, on_idle)

    def stop(self) -> None:
        self._stop.set()
