"""The inference loop of aqmllmd.

One step reads up to ``batch_size`` records (zero-copy), asks the policy
for one action per record, drops the verdicts that would arrive after the
packet's expected dequeue, writes the rest and hands the slots back.  A
failing model (exception, NaN, bad codes, too slow) switches the daemon to
"policy off" — the kernel then decides with its fallback — and is retried
later; the loop itself never dies of it.  A model that hangs is caught by
a watchdog thread while :meth:`InferenceLoop.run` drives the loop.

Per-queue policies (from the teacher, :mod:`aqmllm.daemon.teacher`) are
handed over through :meth:`InferenceLoop.submit_policies` and written by
the loop itself, so the ring keeps a single writer.

``step(now_ns)`` can be driven on simulated time (ns-3); ``run()`` is the
blocking loop of the real daemon.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from aqmllm.bridge import layout
from aqmllm.bridge.ring import Ring, RingError
from aqmllm.daemon.policies import Policy, PolicyError, check_actions

log = logging.getLogger("aqmllmd")

SAMPLES = 8192  # sojourn samples kept for the per-queue delay percentiles
SAMPLES_PER_BATCH = 64


@dataclass
class LoopStats:
    batches: int = 0
    records: int = 0
    verdicts: int = 0
    late_skipped: int = 0
    no_space: int = 0
    by_action: dict[str, int] = field(default_factory=lambda: {"pass": 0, "drop": 0, "mark": 0})
    failures: int = 0
    timeouts: int = 0
    stood_still: int = 0  # slow batches explained by the whole process being stopped
    policy_off_records: int = 0
    policies_written: int = 0
    resyncs: int = 0
    latencies_us: deque[float] = field(default_factory=lambda: deque(maxlen=4096))

    def latency_percentiles(self) -> dict[str, float]:
        if not self.latencies_us:
            return {}
        arr = np.array(list(self.latencies_us), dtype=np.float64)  # one atomic copy
        p50, p99, p999 = np.percentile(arr, [50, 99, 99.9])
        return {"p50_us": float(p50), "p99_us": float(p99), "p999_us": float(p999)}


class QueueStats:
    """Per-queue counters and recent sojourn samples, updated per batch."""

    def __init__(self, nqueues: int) -> None:
        self.nqueues = nqueues
        self.records = np.zeros(nqueues, dtype=np.int64)
        self.actions = np.zeros((nqueues, 4), dtype=np.int64)  # by action code
        self.late = np.zeros(nqueues, dtype=np.int64)
        self.off = np.zeros(nqueues, dtype=np.int64)
        self._sq = np.zeros(SAMPLES, dtype=np.uint32)
        self._sv = np.zeros(SAMPLES, dtype=np.uint32)
        self._si = 0
        self._sn = 0

    def _count(self, q: np.ndarray) -> np.ndarray:
        return np.bincount(q, minlength=self.nqueues)[: self.nqueues]

    def add_records(self, recs: np.ndarray) -> None:
        q = np.minimum(recs["queue_id"], self.nqueues - 1)
        self.records += self._count(q)
        step = max(1, len(recs) // SAMPLES_PER_BATCH)
        take = recs[::step][: SAMPLES - self._si]  # contiguous; wraps next batch
        n = len(take)
        self._sq[self._si : self._si + n] = np.minimum(take["queue_id"], self.nqueues - 1)
        self._sv[self._si : self._si + n] = take["sojourn_ns"]
        self._si = (self._si + n) % SAMPLES
        self._sn = min(self._sn + n, SAMPLES)

    def add_off(self, recs: np.ndarray) -> None:
        self.off += self._count(np.minimum(recs["queue_id"], self.nqueues - 1))

    def add_late(self, q: np.ndarray) -> None:
        self.late += self._count(np.minimum(q, self.nqueues - 1))

    def add_actions(self, q: np.ndarray, acts: np.ndarray) -> None:
        flat = np.minimum(q, self.nqueues - 1).astype(np.int64) * 4 + acts
        self.actions += np.bincount(flat, minlength=4 * self.nqueues)[: 4 * self.nqueues].reshape(
            self.nqueues, 4
        )

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """Queues that saw records: decisions, rates, sojourn percentiles."""
        sq, sv = self._sq[: self._sn], self._sv[: self._sn]
        out: dict[str, dict[str, Any]] = {}
        for q in np.nonzero(self.records)[0]:
            a = self.actions[q]
            decided = int(a[1:].sum())
            entry: dict[str, Any] = {
                "records": int(self.records[q]),
                "pass": int(a[layout.ACT_PASS]),
                "drop": int(a[layout.ACT_DROP]),
                "mark": int(a[layout.ACT_MARK]),
                "late_skipped": int(self.late[q]),
                "policy_off": int(self.off[q]),
                "drop_rate": float(a[layout.ACT_DROP] / decided) if decided else 0.0,
                "mark_rate": float(a[layout.ACT_MARK] / decided) if decided else 0.0,
            }
            mine = sv[sq == q]
            if len(mine):
                p50, p99, p999 = np.percentile(mine, [50, 99, 99.9]) / 1000.0
                entry["sojourn_us"] = {"p50": float(p50), "p99": float(p99), "p999": float(p999)}
            out[str(q)] = entry
        return out


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


PolicySource = Policy | Callable[[], Policy]


def _as_factory(policy: PolicySource) -> Callable[[], Policy]:
    # A policy class or a function builds one; an object with decide() is one.
    if isinstance(policy, type) or not hasattr(policy, "decide"):
        return policy  # type: ignore[return-value]
    return lambda: policy  # type: ignore[return-value]


class InferenceLoop:
    """``InferenceLoop(ring, policy, config)``.

    ``policy`` is a policy object, or a factory (class or function) that
    builds one; a factory is called again to recover after a failure.
    ``config`` is a :class:`LoopSettings`, a daemon ``Config``, or None.
    """

    def __init__(
        self,
        ring: Ring,
        policy: PolicySource,
        config: LoopSettings | Any | None = None,
    ) -> None:
        self.ring = ring
        if config is None:
            config = LoopSettings()
        elif not isinstance(config, LoopSettings):
            config = LoopSettings.from_config(config)
        self.settings: LoopSettings = config
        self.stats = LoopStats()
        self.queues = QueueStats(max(1, min(ring.geometry.nqueues, 65536)))
        self._factory = _as_factory(policy)
        self.policy: Policy | None = None
        self.off_reason = ""
        self._retry_at = 0.0
        self._stop = threading.Event()
        self._busy_since = 0.0  # perf_counter at the start of a model call, 0 when idle
        # The watchdog's last wake-up (perf_counter, process CPU); None while it does not run.
        self._dog_mark: tuple[float, float] | None = None
        self._resumed_at = 0.0  # when the watchdog last found the process had stood still
        self._cost_ns = 0.0  # typical time of a model call (median of recent ones)
        self._costs: deque[float] = deque(maxlen=32)
        self._calls = 0  # model calls; the median is refreshed every 8th (it costs ~20 us)
        self._gone_logged = False
        self._timed_out = False
        self._policies: deque[tuple[np.ndarray, np.ndarray, np.ndarray, int]] = deque()
        self.keep_recent = False  # the teacher reads the latest batch
        self._recent: np.ndarray | None = None
        self._load_policy()
        ring.attach()
        if self.policy is None:
            ring.set_policy_off(True)

    # ---- policy lifecycle ----
    def _load_policy(self) -> None:
        try:
            self.policy = self._factory()
            self.off_reason = ""
            log.info("policy %s ready", self.policy.name)
        except PolicyError as exc:
            self._policy_off(f"cannot load the policy: {exc}")
        except Exception as exc:  # a broken model package must not kill the daemon
            self._policy_off(f"cannot load the policy: {type(exc).__name__}: {exc}")

    def _policy_off(self, reason: str) -> None:
        self.policy = None
        self.stats.failures += 1
        if reason != self.off_reason:
            log.error("policy off, the kernel's fallback decides: %s", reason)
        self.off_reason = reason
        self._retry_at = time.monotonic() + self.settings.retry_after_s
        self.ring.set_policy_off(True)

    def replace_policy(self, policy: PolicySource) -> None:
        """SIGHUP: a new model without touching the ring."""
        self._factory = _as_factory(policy)
        self._load_policy()
        self.ring.set_policy_off(self.policy is None)

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
        ring = self.ring
        try:
            views = ring.peek(self.settings.batch_size)
        except RingError as exc:
            # The producer restarted on the same file, or the indices are garbage.
            self.stats.resyncs += 1
            log.error("%s; skipping to the producer's index", exc)
            ring.resync()
            views = []
        if self._policies and self.policy is not None:
            self._write_policies(ring.producer_clock() if now_ns is None else now_ns)
        if not views:
            ring.heartbeat()
            return 0
        recs = views[0] if len(views) == 1 else np.concatenate(views)
        n = len(recs)
        self.stats.batches += 1
        self.stats.records += n
        self.queues.add_records(recs)
        if self.keep_recent:
            self._recent = recs.copy()
        if self.policy is None and time.monotonic() >= self._retry_at:
            self._load_policy()
            ring.set_policy_off(self.policy is None)
        written = 0
        if self.policy is None:
            self.stats.policy_off_records += n
            self.queues.add_off(recs)
        else:
            written = self._decide_and_write(recs, now_ns)
        ring.consume(n)
        ring.heartbeat()
        return written

    def _on_time(self, recs: np.ndarray, now: int) -> np.ndarray | None:
        """Which records' packets are still queued at ``now`` + margin.

        ``t_ns + est_wait_ns`` is the packet's expected dequeue on the
        producer's clock; a link of unknown rate (``rate_kbps`` 0) gives no
        estimate, so such records always count.  Returns None when all are
        on time, else the mask (the late ones are counted here).
        """
        due = recs["t_ns"] + recs["est_wait_ns"]
        limit = np.uint64(now + self.settings.deadline_margin_us * 1000)
        on_time = (due >= limit) | (recs["rate_kbps"] == 0)
        late = len(recs) - int(np.count_nonzero(on_time))
        if late == 0:
            return None
        self.stats.late_skipped += late
        self.queues.add_late(recs["queue_id"][~on_time])
        return on_time

    def _decide_and_write(self, recs: np.ndarray, now_ns: int | None) -> int:
        assert self.policy is not None
        clock0 = self.ring.producer_clock() if now_ns is None else now_ns
        # Records whose verdict could not arrive in time are not worth a model
        # call: behind a burst this is how the loop catches up with the ring.
        # A model call is expected to take as long as recent ones typically
        # did (a median: one stall of the process must not skew it).
        expect = int(self._cost_ns) if now_ns is None else 0
        mask = self._on_time(recs, clock0 + expect)
        if mask is not None:
            recs = recs[mask]
            if len(recs) == 0:
                # All skipped: the estimate may be stale (a cold first call,
                # a stall); let it decay so the model is tried again.
                self._cost_ns *= 0.5
                self._costs.clear()
                return 0
        t0 = time.perf_counter()
        self._busy_since = t0
        try:
            actions = check_actions(self.policy.decide(recs), len(recs), recs)
        except PolicyError as exc:
            self._policy_off(str(exc))
            return 0
        except Exception as exc:  # a model bug must not kill the loop
            self._policy_off(f"{type(exc).__name__}: {exc}")
            return 0
        finally:
            self._busy_since = 0.0
        elapsed = time.perf_counter() - t0
        model_s = self._model_time(t0)
        self.stats.latencies_us.append(model_s * 1e6)
        self._costs.append(model_s * 1e9)
        self._calls += 1
        if self._calls % 8 == 0 or len(self._costs) < 8:
            self._cost_ns = float(np.median(self._costs))
        if model_s * 1000 > self.settings.model_timeout_ms:
            self.stats.timeouts += 1
            self._policy_off(
                f"batch of {len(recs)} took {elapsed * 1000:.1f} ms"
                f" (limit {self.settings.model_timeout_ms} ms)"
            )
            return 0
        # Skip the verdicts that would now reach the queue after their packet
        # left (on simulated time the model takes no time).
        if now_ns is None and elapsed * 1e9 > expect:  # slower than expected
            mask = self._on_time(recs, clock0 + int(elapsed * 1e9))
            if mask is not None:
                recs, actions = recs[mask], actions[mask]
        written = self.ring.write_verdicts(recs["seq"], actions)
        self.stats.no_space += len(recs) - written
        self.stats.verdicts += written
        acts = actions[:written]
        counts = np.bincount(acts, minlength=4)
        self.stats.by_action["pass"] += int(counts[layout.ACT_PASS])
        self.stats.by_action["drop"] += int(counts[layout.ACT_DROP])
        self.stats.by_action["mark"] += int(counts[layout.ACT_MARK])
        self.queues.add_actions(recs["queue_id"][:written], acts)
        return written

    def _stood_still(self, now: float, cpu: float, mark: tuple[float, float]) -> bool:
        """Since the watchdog's mark: far longer than it sleeps, with little CPU burnt."""
        limit = self.settings.model_timeout_ms / 1000
        gap = now - mark[0]
        return gap - min(limit / 2, 0.05) > limit and cpu - mark[1] < gap / 2

    def _model_time(self, t0: float) -> float:
        """How long the model call took, less any time the whole process stood still.

        SIGSTOP, or a machine that gives the daemon no CPU, stretches the
        call's wall time without the model being slow; turning the policy off
        for ``retry_after_s`` would then punish the model for the operator's
        signal.  Such a stretch shows as a watchdog that could not wake
        (it runs every few ms) and a process that burnt little CPU; a model
        that spins, even holding the GIL, burns CPU and stays accountable.
        """
        now = time.perf_counter()
        wall = now - t0
        mark = self._dog_mark
        if wall * 1000 <= self.settings.model_timeout_ms or mark is None:
            return wall
        resumed = self._resumed_at
        if resumed <= t0:
            # The watchdog has not woken since: is it the process that stood still?
            if not self._stood_still(now, time.process_time(), mark):
                return wall  # the model was slow
            resumed = now
        self.stats.stood_still += 1
        log.warning(
            "the daemon stood still for %.0f ms (stopped or starved of CPU); the kernel's"
            " fallback decided meanwhile, the model keeps its turn",
            (resumed - t0) * 1000,
        )
        return now - resumed

    # ---- producer restarts ----
    def follow_producer(self) -> bool:
        """Re-attach when a shm ring's producer started over with a new file.

        Returns True when the loop switched rings.  While the path is
        missing or not yet a valid ring, the old mapping is kept.
        """
        old = self.ring
        if not old.replaced():
            self._gone_logged = False
            return False
        try:
            new = Ring.open_shm(old.name)
        except RingError as exc:
            if not self._gone_logged:
                log.warning("%s: the producer's ring went away; waiting (%s)", old.name, exc)
                self._gone_logged = True
            return False
        old.close()
        self.ring = new
        self.queues = QueueStats(max(1, min(new.geometry.nqueues, 65536)))
        self._policies.clear()
        self._recent = None
        new.attach()
        new.set_policy_off(self.policy is None)
        self._gone_logged = False
        log.info(
            "%s: the producer restarted; attached to the new ring (%d records)",
            new.name,
            new.geometry.rec_entries,
        )
        return True

    # ---- the daemon's loop ----
    def _watchdog(self) -> None:
        """A model call that hangs: tell the kernel at once, then wait it out."""
        limit = self.settings.model_timeout_ms / 1000
        period = min(limit / 2, 0.05)
        # CPU time is read here, every few ms, not around each model call.
        self._dog_mark = (time.perf_counter(), time.process_time())
        while not self._stop.wait(period):
            now, cpu = time.perf_counter(), time.process_time()
            if self._stood_still(now, cpu, self._dog_mark):
                self._resumed_at = now  # see _model_time
            self._dog_mark = (now, cpu)
            limit = self.settings.model_timeout_ms / 1000
            period = min(limit / 2, 0.05)
            started = max(self._busy_since, self._resumed_at) if self._busy_since else 0.0
            if started and now - started > limit:
                if not self._timed_out:
                    self._timed_out = True
                    self.ring.set_policy_off(True)
                    log.error(
                        "policy off: the model has not answered for %.0f ms (limit %d ms)",
                        (time.perf_counter() - started) * 1000,
                        self.settings.model_timeout_ms,
                    )
            else:
                self._timed_out = False
        self._dog_mark = None

    def run(self, on_idle: Callable[[], None] | None = None) -> None:
        dog = threading.Thread(target=self._watchdog, name="model-watchdog", daemon=True)
        dog.start()
        self.ring.heartbeat()
        check_at = time.monotonic() + 0.25
        try:
            while not self._stop.is_set():
                ring = self.ring
                s = self.settings
                if time.monotonic() >= check_at:  # a new producer on the same path?
                    check_at = time.monotonic() + 0.25
                    if self.follow_producer():
                        continue
                # Idle: wake at least every millisecond to keep the heartbeat fresh.
                ring.wait(1e-3, s.busy_poll_us / 1e6)
                # Gather: optionally, a short batch waits up to max_wait for company.
                if s.max_wait_us and 0 < ring.pending() < s.batch_size:
                    deadline = time.monotonic() + s.max_wait_us / 1e6
                    while ring.pending() < s.batch_size and time.monotonic() < deadline:
                        time.sleep(0)
                self.step()
                if on_idle is not None:
                    on_idle()
        finally:
            self._stop.set()
            dog.join(1.0)

    def stop(self) -> None:
        self._stop.set()
