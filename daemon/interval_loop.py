"""The interval loop of aqmllmd: one residual per queue per interval.

A step reads as a sentence: **take** the interval records the producer
wrote since the last step (zero-copy, then handed back), **remember** them
in each queue's history, **decide** once for the newest record of every
queue (one policy call, batched over queues), **check** the answer (shape,
finite, in time), **write** one residual verdict per queue, answering that
record's seq and expiring ``expiry_intervals`` intervals later on the
producer's clock.  A residual is *late* when it is written after the
interval that follows its record has ended: the queue ran that interval on
whatever was in effect before.

The policy lives in a :class:`~aqmllm.daemon.policy_slot.PolicySlot`, as
the per-packet model does: a failing policy (it cannot load, fails its
load-time probe, raises, answers nonsense, or is slower than
``interval.model_timeout_ms``, which the daemon's shared watchdog watches
through this loop's own :class:`~aqmllm.daemon.watchdog.CallTimer`) is
dropped and rebuilt ``retry_after_s`` later; meanwhile nothing is written
and the queues' residuals expire: the kernel runs the bare fallback.  Every
such stretch is a fallback episode of the interval tier.  In ``mode =
"interval"`` the loop owns the ring's daemon line and says "policy off" at
once; beside the per-packet loop (``mode = "both"``) that one owns it.

The loop has the shape the driver (:mod:`aqmllm.daemon.driver`) steps
(``ring``, ``settings``, ``step(now_ns)``, ``use_ring``), and a daemon
state (:mod:`aqmllm.daemon.state`) builds it aside (``attach=False``),
``activate``s and ``retire``s it as it does the per-packet loop.
``step(now_ns)`` can be driven on simulated time (ns-3).
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from aqmllm.bridge import layout
from aqmllm.bridge.ring import Ring, RingError
from aqmllm.daemon.interval_policies import IntervalPolicy, check_residuals
from aqmllm.daemon.policies import PolicyError
from aqmllm.daemon.policy_slot import PolicySlot, as_factory
from aqmllm.daemon.stage import SlotStage, settings_of
from aqmllm.daemon.stats import LATENCY_BOUNDS_S, Histogram
from aqmllm.daemon.watchdog import CallTimer, Watchdog

log = logging.getLogger("aqmllmd")

GAP = layout.INTERVAL_FLAGS["gap"]
DEFAULT_INTERVAL_NS = 16_000_000  # for a record after an idle gap
# How long after its record's interval ended a residual was written (producer clock).
ANSWER_DELAY_BOUNDS_S = (
    2.5e-4, 5e-4, 1e-3, 2e-3, 4e-3, 8e-3, 0.016, 0.032, 0.064, 0.128, 0.25, 0.5, 1.0,
)  # fmt: skip


@dataclass
class IntervalSettings:
    expiry_intervals: int = 4
    window: int = 32
    model_timeout_ms: int = 50
    retry_after_s: float = 5.0
    batch: int = 65536  # interval records taken per step, at most
    owns_state: bool = True  # publishes "policy off" (no per-packet loop beside it)

    @classmethod
    def from_config(cls, cfg: Any) -> IntervalSettings:
        return cls(
            expiry_intervals=cfg["interval.expiry_intervals"],
            window=cfg["interval.window"],
            model_timeout_ms=cfg["interval.model_timeout_ms"],
            retry_after_s=cfg["inference.retry_after_s"],
            owns_state=cfg["inference.mode"] == "interval",
        )


@dataclass
class IntervalStats:
    rounds: int = 0  # policy calls
    records: int = 0  # interval records read
    residuals: int = 0  # residual verdicts written
    nonzero: int = 0  # ... of which not all zero
    late: int = 0  # written after the interval they were for had ended
    no_space: int = 0  # verdict ring full
    failures: int = 0
    timeouts: int = 0
    stood_still: int = 0  # slow rounds forgiven: the whole process was stopped
    off_records: int = 0  # records seen while the policy was off
    resyncs: int = 0
    gaps: int = 0  # records spanning idle intervals
    lost_before: int = 0  # records whose queue's previous record was lost
    latencies_us: deque[float] = field(default_factory=lambda: deque(maxlen=4096))
    # producer ns from a record's end to its residual being written
    answer_delay_us: deque[float] = field(default_factory=lambda: deque(maxlen=4096))
    latency: Histogram = field(default_factory=lambda: Histogram(LATENCY_BOUNDS_S))
    answer_delay: Histogram = field(default_factory=lambda: Histogram(ANSWER_DELAY_BOUNDS_S))

    def percentiles(self, samples: deque[float]) -> dict[str, float]:
        if not samples:
            return {}
        arr = np.array(list(samples), dtype=np.float64)
        p50, p99 = np.percentile(arr, [50, 99])
        return {"p50_us": float(p50), "p99_us": float(p99)}


class QueueResiduals:
    """Per queue: what the kernel says is in effect (from the newest record), and what we wrote.

    Columns: C multiplier, L multiplier (Q8 log2), step (us), target (Q8 log2).
    """

    KEYS = ("log2_mult_c_q8", "log2_mult_l_q8", "step_us", "log2_target_q8")

    def __init__(self) -> None:
        self.in_effect = np.zeros((0, 4), np.int64)
        self.written = np.zeros((0, 4), np.int64)
        self.late = np.zeros(0, np.int64)
        self.known = np.zeros(0, bool)

    def _grow(self, qmax: int) -> None:
        n = len(self.known)
        if qmax < n:
            return
        extra = max(qmax + 1, 2 * n) - n
        self.in_effect = np.concatenate([self.in_effect, np.zeros((extra, 4), np.int64)])
        self.written = np.concatenate([self.written, np.zeros((extra, 4), np.int64)])
        self.late = np.concatenate([self.late, np.zeros(extra, np.int64)])
        self.known = np.concatenate([self.known, np.zeros(extra, bool)])

    @staticmethod
    def _columns(mult: np.ndarray, step: np.ndarray, target: np.ndarray) -> np.ndarray:
        return np.column_stack([mult[:, 0], mult[:, 1], step, target])

    def seen(self, latest: np.ndarray) -> None:
        q = latest["queue_id"].astype(np.int64)
        self._grow(int(q.max(initial=0)))
        self.in_effect[q] = self._columns(
            latest["res_log2_mult"], latest["res_step_us"], latest["res_log2_target"]
        )
        self.known[q] = True

    def wrote(self, queues: np.ndarray, res: dict[str, np.ndarray], late: np.ndarray) -> None:
        q = np.asarray(queues, np.int64)
        self._grow(int(q.max(initial=0)))
        self.written[q] = self._columns(
            res["res_log2_mult"], res["res_step_us"], res["res_log2_target"]
        )
        np.add.at(self.late, q, late.astype(np.int64))
        self.known[q] = True

    def snapshot(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for q in np.flatnonzero(self.known).tolist():
            out[str(q)] = {
                "in_effect": dict(zip(self.KEYS, self.in_effect[q].tolist(), strict=True)),
                "written": dict(zip(self.KEYS, self.written[q].tolist(), strict=True)),
                "late": int(self.late[q]),
            }
        return out


PolicySource = IntervalPolicy | Callable[[], IntervalPolicy]


def newest_per_queue(recs: np.ndarray) -> np.ndarray:
    """The last record of each queue in ring order (so the newest), by queue id."""
    q = recs["queue_id"]
    _, last = np.unique(q[::-1], return_index=True)
    return recs[len(recs) - 1 - last]


class IntervalLoop(SlotStage):
    """``IntervalLoop(ring, policy, settings)``; ``policy`` an interval policy or a factory.

    A daemon passes its shared ``watchdog`` and, on a reload, the running
    loop (``previous``: its statistics and, on the same ring, its queues'
    history and residuals carry over); ``attach=False`` builds the loop
    aside without touching the ring until :meth:`activate`.
    """

    kind = "interval"

    def __init__(
        self,
        ring: Ring,
        policy: PolicySource,
        settings: IntervalSettings | Any | None = None,
        *,
        watchdog: Watchdog | None = None,
        previous: IntervalLoop | None = None,
        attach: bool = True,
        announce: bool = True,
    ) -> None:
        self.ring = ring
        self.settings: IntervalSettings = settings_of(settings, IntervalSettings)
        self.stats = previous.stats if previous is not None else IntervalStats()
        self._carry(previous)
        self.watchdog = watchdog if watchdog is not None else Watchdog(self._limit_s())
        self.timer = CallTimer(on_hang=self._on_hang, limit_s=self._limit_s())
        self._factory = policy
        self.slot = PolicySlot(
            self._build, self.settings.retry_after_s, self.stats, announce=announce,
            tier="interval",
        )  # fmt: skip
        if previous is not None:
            self.slot.adopt_history(previous.slot)
        if attach:
            self.activate()

    def _carry(self, previous: IntervalLoop | None) -> None:
        """A queue's history and residuals survive a reload on the same ring."""
        from aqmllm.models.interval_history import IntervalHistory  # numpy only: no torch

        self.history = IntervalHistory(self.settings.window)
        self.queues = QueueResiduals()
        if previous is not None and previous.ring is self.ring:
            self.queues = previous.queues
            if previous.history.window_len == self.settings.window:
                self.history = previous.history

    # ---- the policy, as the rest of the daemon sees it ----
    def _build(self) -> IntervalPolicy:
        """The slot's factory: a policy bound to this loop's history."""
        policy = as_factory(self._factory)()
        bind = getattr(policy, "bind_history", None)
        if callable(bind):
            bind(self.history)
        return policy

    def replace_policy(self, policy: PolicySource) -> None:
        self._factory = policy
        self.slot.replace(self._build)

    # ---- owning the ring ----
    def _publish(self, off: bool) -> None:
        """Alone on the ring, the interval policy is what the kernel's daemon line says."""
        if self.settings.owns_state:
            super()._publish(off)

    def activate(self) -> None:
        self.ring.wants_intervals = True  # wake for interval records too
        super().activate()

    def retire(self) -> None:
        super().retire()
        self.ring.wants_intervals = False

    def rebase(self, ring: Ring) -> None:
        """Before activation: work on another ring; per-ring state starts over."""
        super().rebase(ring)
        self.history.reset()
        self.queues = QueueResiduals()

    def use_ring(self, ring: Ring) -> None:
        ring.wants_intervals = True
        super().use_ring(ring)

    # ---- one round ----
    def step(self, now_ns: int | None = None) -> int:
        """Read the new interval records and answer them; returns the residuals written."""
        recs = self._take()
        if recs is None:
            self.ring.heartbeat()
            return 0
        latest = newest_per_queue(recs)
        self.queues.seen(latest)
        policy = self.slot.policy or self.slot.current()  # a failed one is retried when due
        written = 0
        if policy is None:
            self.stats.off_records += len(recs)
        else:
            answer = self._decide(policy, latest)
            if answer is not None:
                written = self._write(latest, answer, now_ns)
        self.ring.heartbeat()
        return written

    def _take(self) -> np.ndarray | None:
        ring = self.ring
        try:
            views = ring.peek_intervals(self.settings.batch)
        except RingError as exc:
            self.stats.resyncs += 1
            log.error("%s; skipping to the producer's index", exc)
            ring.resync()
            return None
        if not views:
            return None
        recs = np.concatenate(views) if len(views) > 1 else views[0].copy()
        ring.consume_intervals(len(recs))
        flags = recs["flags"]
        self.stats.records += len(recs)
        self.stats.gaps += int(np.count_nonzero(flags & GAP))
        self.stats.lost_before += int(np.count_nonzero(flags & layout.INTERVAL_FLAGS["after_loss"]))
        self.history.update(recs)
        return recs

    def _decide(self, policy: IntervalPolicy, latest: np.ndarray) -> dict[str, np.ndarray] | None:
        """One policy call over every queue, watched; None after turning the policy off."""
        t0 = time.perf_counter()
        self.timer.busy_since = t0
        try:
            answer = check_residuals(policy.residuals(latest), len(latest), policy.name)
        except PolicyError as exc:
            self.slot.off(str(exc))
            return None
        except Exception as exc:  # a model bug must not kill the loop
            self.slot.off(f"{type(exc).__name__}: {exc}")
            return None
        finally:
            self.timer.busy_since = 0.0
        now = time.perf_counter()
        seconds = self.watchdog.charged(t0, now, self._limit_s(), self.stats)
        self.stats.rounds += 1
        self.stats.latencies_us.append(seconds * 1e6)
        self.stats.latency.observe(seconds)
        if seconds * 1000 > self.settings.model_timeout_ms:
            self.stats.timeouts += 1
            self.slot.off(
                f"interval decision for {len(latest)} queues took {(now - t0) * 1000:.1f} ms"
                f" (limit {self.settings.model_timeout_ms} ms)"
            )
            return None
        return answer

    def _write(self, latest: np.ndarray, res: dict[str, np.ndarray], now_ns: int | None) -> int:
        ring = self.ring
        now = ring.producer_clock() if now_ns is None else now_ns
        ivl = latest["interval_ns"].astype(np.int64)
        nominal = np.where(
            (latest["flags"] & GAP) != 0,
            ring.interval_ns() or DEFAULT_INTERVAL_NS,
            ivl,
        )
        expiry = now + self.settings.expiry_intervals * nominal
        queues = latest["queue_id"].astype(np.int64)
        keep = queues < ring.geometry.nqueues
        n = ring.write_residuals(
            queues[keep],
            latest["seq"][keep],
            res["res_log2_mult"][keep],
            res["res_step_us"][keep],
            res["res_log2_target"][keep],
            expiry[keep].astype(np.uint64),
        )
        self.stats.no_space += int(np.count_nonzero(keep)) - n
        if n == 0:
            return 0
        sel = np.flatnonzero(keep)[:n]
        ends = latest["t_ns"][sel].astype(np.int64)
        late = now >= ends + nominal[sel]
        self.stats.residuals += n
        self.stats.late += int(np.count_nonzero(late))
        zero = (
            (res["res_log2_mult"][sel] == 0).all(axis=1)
            & (res["res_step_us"][sel] == 0)
            & (res["res_log2_target"][sel] == 0)
        )
        self.stats.nonzero += int(np.count_nonzero(~zero))
        delay = (now - ends) / 1000.0
        sample = delay[:: max(1, len(delay) // 64)]
        self.stats.answer_delay_us.extend(sample.tolist())
        self.stats.answer_delay.observe_many(np.maximum(sample, 0.0) / 1e6)
        self.queues.wrote(queues[sel], {k: v[sel] for k, v in res.items()}, late)
        return n

    def snapshot(self) -> dict[str, Any]:
        s = self.stats
        return {
            "policy": self.policy.name if self.policy else "off",
            "policy_off_reason": self.off_reason,
            "rounds": s.rounds,
            "records": s.records,
            "residuals": s.residuals,
            "nonzero": s.nonzero,
            "late": s.late,
            "no_space": s.no_space,
            "failures": s.failures,
            "timeouts": s.timeouts,
            "stood_still": s.stood_still,
            "fallback_episodes": self.slot.episodes,
            "fallback_seconds": self.slot.off_seconds(),
            "off_records": s.off_records,
            "gaps": s.gaps,
            "lost_before": s.lost_before,
            "decision_latency": s.percentiles(s.latencies_us),
            "answer_delay": s.percentiles(s.answer_delay_us),
            "queues": self.queues.snapshot(),
        }
