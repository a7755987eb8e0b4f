"""The inference loop of aqmllmd.

One step reads up to ``batch_size`` records (zero-copy), asks the policy
for one action per record, drops the verdicts that would arrive after the
packet's expected dequeue, writes the rest and hands the slots back.  A
failing model (exception, NaN, bad codes, too slow) switches the daemon to
"policy off" — the kernel then decides with its fallback — and is retried
later; the loop itself never dies of it.

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

import numpy as np
from aqmllm.bridge import layout
from aqmllm.bridge.ring import Ring
from aqmllm.daemon.policies import Policy, PolicyError, check_actions

log = logging.getLogger("aqmllmd")


@dataclass
class LoopStats:
    batches: int = 0
    records: int = 0
    verdicts: int = 0
    late_skipped: int = 0
    no_space: int = 0
    by_action: dict[str, int] = field(default_factory=lambda: {"pass": 0, "drop": 0, "mark": 0})
    failures: int = 0
    policy_off_records: int = 0
    latencies_us: deque[float] = field(default_factory=lambda: deque(maxlen=4096))

    def latency_percentiles(self) -> dict[str, float]:
        if not self.latencies_us:
            return {}
        arr = np.fromiter(self.latencies_us, dtype=np.float64)
        p50, p99, p999 = np.percentile(arr, [50, 99, 99.9])
        return {"p50_us": float(p50), "p99_us": float(p99), "p999_us": float(p999)}


@dataclass
class LoopSettings:
    batch_size: int = 256
    max_wait_us: int = 50
    busy_poll_us: int = 0
    deadline_margin_us: int = 5
    model_timeout_ms: int = 50
    retry_after_s: float = 5.0


class InferenceLoop:
    def __init__(
        self,
        ring: Ring,
        policy_factory: Callable[[], Policy],
        settings: LoopSettings | None = None,
    ) -> None:
        self.ring = ring
        self.settings = settings or LoopSettings()
        self.stats = LoopStats()
        self._factory = policy_factory
        self.policy: Policy | None = None
        self.off_reason = ""
        self._retry_at = 0.0
        self._stop = threading.Event()
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

    def _policy_off(self, reason: str) -> None:
        self.policy = None
        self.stats.failures += 1
        if reason != self.off_reason:
            log.error("policy off, the kernel's fallback decides: %s", reason)
        self.off_reason = reason
        self._retry_at = time.monotonic() + self.settings.retry_after_s
        self.ring.set_policy_off(True)

    def replace_policy(self, factory: Callable[[], Policy]) -> None:
        """SIGHUP: a new model without touching the ring."""
        self._factory = factory
        self._load_policy()
        self.ring.set_policy_off(self.policy is None)

    # ---- one batch ----
    def step(self, now_ns: int | None = None) -> int:
        ring = self.ring
        views = ring.peek(self.settings.batch_size)
        if not views:
            ring.heartbeat()
            return 0
        recs = views[0] if len(views) == 1 else np.concatenate(views)
        n = len(recs)
        self.stats.batches += 1
        self.stats.records += n
        if self.policy is None and time.monotonic() >= self._retry_at:
            self._load_policy()
            ring.set_policy_off(self.policy is None)
        written = 0
        if self.policy is None:
            self.stats.policy_off_records += n
        else:
            written = self._decide_and_write(recs, now_ns)
        ring.consume(n)
        ring.heartbeat()
        return written

    def _decide_and_write(self, recs: np.ndarray, now_ns: int | None) -> int:
        assert self.policy is not None
        clock0 = self.ring.producer_clock() if now_ns is None else now_ns
        t0 = time.perf_counter()
        try:
            actions = check_actions(self.policy.decide(recs), len(recs), recs)
        except PolicyError as exc:
            self._policy_off(str(exc))
            return 0
        except Exception as exc:  # a model bug must not kill the loop
            self._policy_off(f"{type(exc).__name__}: {exc}")
            return 0
        elapsed = time.perf_counter() - t0
        self.stats.latencies_us.append(elapsed * 1e6)
        if elapsed * 1000 > self.settings.model_timeout_ms:
            self._policy_off(
                f"batch of {len(recs)} took {elapsed * 1000:.1f} ms"
                f" (limit {self.settings.model_timeout_ms} ms)"
            )
            return 0
        # Skip verdicts that would reach the queue after their packet left.
        now = clock0 + (int(elapsed * 1e9) if now_ns is None else 0)
        wait = recs["est_wait_ns"].astype(np.uint64)
        due = recs["t_ns"] + wait
        margin = np.uint64(self.settings.deadline_margin_us * 1000)
        on_time = (wait == 0) | (due >= np.uint64(now) + margin)
        late = int(len(recs) - np.count_nonzero(on_time))
        self.stats.late_skipped += late
        if late:
            seqs, acts = recs["seq"][on_time], actions[on_time]
        else:
            seqs, acts = recs["seq"], actions
        written = self.ring.write_verdicts(seqs, acts)
        self.stats.no_space += len(seqs) - written
        self.stats.verdicts += written
        counts = np.bincount(acts[:written], minlength=4)
        self.stats.by_action["pass"] += int(counts[layout.ACT_PASS])
        self.stats.by_action["drop"] += int(counts[layout.ACT_DROP])
        self.stats.by_action["mark"] += int(counts[layout.ACT_MARK])
        return written

    # ---- the daemon's loop ----
    def run(self, on_idle: Callable[[], None] | None = None) -> None:
        s = self.settings
        while not self._stop.is_set():
            # Idle: wake at least every millisecond to keep the heartbeat fresh.
            self.ring.wait(1e-3, s.busy_poll_us / 1e6)
            # Gather: a short batch waits up to max_wait for company.
            if 0 < self.ring.pending() < s.batch_size and s.max_wait_us:
                deadline = time.monotonic() + s.max_wait_us / 1e6
                while self.ring.pending() < s.batch_size and time.monotonic() < deadline:
                    time.sleep(0)
            self.step()
            if on_idle is not None:
                on_idle()

    def stop(self) -> None:
        self._stop.set()
