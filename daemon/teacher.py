"""The teacher loop: a slower policy that sets per-queue probabilities.

Every ``interval`` the teacher looks at the most recent batch of records
(a copy the inference loop keeps), asks its model for per-queue drop and
mark probabilities (``queue_policies(records) -> {queue: (drop, mark)}``)
and hands them to the inference loop, which writes them into the ring as
VK_POLICY verdicts that expire ``ttl`` later on the producer's clock.  The
kernel applies a policy to packets that got no per-packet verdict, so a
slow teacher steers the queue while the student decides packet by packet.

The teacher runs in its own thread (a torch forward pass releases the
GIL); a failing or slow teacher is logged and retried, and its policies
simply expire: the student and the fallback go on deciding.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from aqmllm.daemon.loop import InferenceLoop
from aqmllm.daemon.policies import PolicyError

log = logging.getLogger("aqmllmd")


class TeacherLoop:
    def __init__(
        self,
        loop: InferenceLoop,
        factory: Callable[[], Any],
        interval_s: float,
        ttl_ns: int,
        retry_after_s: float = 5.0,
    ) -> None:
        self.loop = loop
        self.factory = factory
        self.interval_s = interval_s
        self.ttl_ns = ttl_ns
        self.retry_after_s = retry_after_s
        self.teacher: Any | None = None
        self.rounds = 0
        self.failures = 0
        self.last_error = ""
        self.latency_s = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        loop.keep_recent = True

    def _load(self) -> bool:
        try:
            teacher = self.factory()
        except Exception as exc:  # PolicyError, ModelError, import errors
            self._fail(f"cannot load the teacher: {exc}")
            return False
        if not callable(getattr(teacher, "queue_policies", None)):
            self._fail(f"{getattr(teacher, 'name', teacher)!s} has no queue_policies()")
            return False
        self.teacher = teacher
        log.info(
            "teacher %s ready (every %.0f ms)",
            getattr(teacher, "name", "?"),
            self.interval_s * 1000,
        )
        return True

    def _fail(self, why: str) -> None:
        self.failures += 1
        if why != self.last_error:
            log.error("teacher off (per-queue policies expire): %s", why)
        self.last_error = why
        self.teacher = None

    def tick(self) -> int:
        """One teacher round; returns the number of queue policies submitted."""
        if self.teacher is None and not self._load():
            return 0
        recs = self.loop.latest_records()
        if recs is None or len(recs) == 0:
            return 0
        t0 = time.perf_counter()
        try:
            pols = self.teacher.queue_policies(recs)  # type: ignore[union-attr]
            if not isinstance(pols, dict):
                raise PolicyError(f"queue_policies returned {type(pols).__name__}, not a dict")
            self.loop.submit_policies(pols, self.ttl_ns)
        except Exception as exc:  # the teacher must never take the daemon down
            self._fail(f"{type(exc).__name__}: {exc}")
            return 0
        self.latency_s = time.perf_counter() - t0
        self.rounds += 1
        self.last_error = ""
        return len(pols)

    def _run(self) -> None:
        while not self._stop.is_set():
            start = time.monotonic()
            self.tick()
            if self.teacher is None:  # failed: retry later, not every interval
                wait = self.retry_after_s
            else:
                wait = max(0.0, self.interval_s - (time.monotonic() - start))
            self._stop.wait(wait)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="teacher", daemon=True)
        self._thread.start()

    def stop(self, wait: bool = True) -> None:
        """Stop the teacher; ``wait=False`` lets a round in flight finish on its own
        (a reload must not hold the packet loop for a teacher's forward pass)."""
        self._stop.set()
        if wait and self._thread is not None:
            self._thread.join(5.0)
