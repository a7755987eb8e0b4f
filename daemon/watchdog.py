"""The model watchdog, and telling a slow model from a process that stood still.

A thread wakes every few milliseconds.  When a watched model call has been
running longer than its limit it calls the loop's ``on_hang`` once, which
tells the kernel at once (policy off), without waiting for the call.

SIGSTOP, or a machine that gives the daemon no CPU, stretches a call's wall
time without the model being slow; punishing the model for the operator's
signal would turn it off for ``retry_after_s``.  Such a stretch shows as a
watchdog that could not wake (it runs every few ms) and a process that
burnt little CPU; a model that spins, even holding the GIL, burns CPU and
stays accountable.  CPU time is read here, every few ms, not around each
model call (a syscall per batch on the hot path).

One watchdog serves every loop of a daemon: each loop watches its calls
through its own :class:`CallTimer`, with its own limit (the per-packet
model's ``inference.model_timeout_ms``, the interval model's
``interval.model_timeout_ms``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("aqmllmd")

MAX_PERIOD_S = 0.05


@dataclass
class CallTimer:
    """One loop's model call in flight: set ``busy_since`` (perf_counter) around it."""

    on_hang: Callable[[float], None] = field(default=lambda _ms: None)
    busy_since: float = 0.0  # 0 while no call runs
    timed_out: bool = False  # on_hang was called for the current call
    limit_s: float = 0.0  # this loop's limit; 0: the watchdog's


class Watchdog:
    def __init__(self, limit_s: float) -> None:
        self.limit_s = limit_s  # the model timeout; the loop may change it (reload)
        self.timers: list[CallTimer] = []
        # The last wake-up (perf_counter, process CPU); None while the thread does not run.
        self.mark: tuple[float, float] | None = None
        self.resumed_at = 0.0  # when the process was last found to have stood still
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def period(self) -> float:
        return min(self.limit_s / 2, MAX_PERIOD_S)

    def stood_still(self, now: float, cpu: float, mark: tuple[float, float]) -> bool:
        """Since ``mark``: far longer than the watchdog sleeps, with little CPU burnt."""
        gap = now - mark[0]
        return gap - self.period() > self.limit_s and cpu - mark[1] < gap / 2

    def model_time(self, t0: float, now: float, limit_s: float | None = None) -> tuple[float, bool]:
        """A call's time less any stretch the process stood still; and whether it did."""
        wall = now - t0
        mark = self.mark
        if wall <= (self.limit_s if limit_s is None else limit_s) or mark is None:
            return wall, False
        resumed = self.resumed_at
        if resumed <= t0:
            # The watchdog has not woken since: is it the process that stood still?
            if not self.stood_still(now, time.process_time(), mark):
                return wall, False  # the model was slow
            resumed = now
        return now - resumed, True

    def charged(self, t0: float, now: float, limit_s: float, stats: Any) -> float:
        """What a call that ran from ``t0`` to ``now`` costs the model: its time, less
        any stretch the whole process stood still (counted in ``stats.stood_still``)."""
        if now - t0 <= limit_s:
            return now - t0  # within the limit: nothing to forgive (the common case)
        seconds, forgiven = self.model_time(t0, now, limit_s)
        if forgiven:
            stats.stood_still += 1
            log.warning(
                "the daemon stood still for %.0f ms (stopped or starved of CPU); the kernel's"
                " fallback decided meanwhile, the model keeps its turn",
                (now - t0 - seconds) * 1000,
            )
        return seconds

    def _check(self, now: float) -> None:
        for timer in self.timers:
            busy = timer.busy_since
            started = max(busy, self.resumed_at) if busy else 0.0
            if started and now - started > (timer.limit_s or self.limit_s):
                if not timer.timed_out:
                    timer.timed_out = True
                    timer.on_hang((time.perf_counter() - started) * 1000)
            else:
                timer.timed_out = False

    def _run(self) -> None:
        self.mark = (time.perf_counter(), time.process_time())
        while not self._stop.wait(self.period()):
            now, cpu = time.perf_counter(), time.process_time()
            if self.stood_still(now, cpu, self.mark):
                self.resumed_at = now  # see model_time
            self.mark = (now, cpu)
            self._check(now)
        self.mark = None

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="model-watchdog", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(1.0)
            self._thread = None
