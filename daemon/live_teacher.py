"""``teacher.mode = "live"``: the teacher is the interval policy, the student its fallback.

Each interval the loop asks for one residual per queue; the teacher (an
interval-tier LLM, batched over every queue in one forward pass, on CPU or
CUDA) answers in a worker thread while the loop waits at most
``deadline_s``.  A teacher that is late, still busy with an earlier round,
failing, or not loaded lets the student answer this round instead; a late
answer is dropped (its records have been answered).  A teacher that fails
is rebuilt ``retry_after_s`` later.  Both see the daemon's history.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

import numpy as np
from aqmllm.daemon.interval_policies import IntervalPolicy, check_residuals

log = logging.getLogger("aqmllmd")


class LiveTeacher:
    def __init__(
        self,
        teacher: Callable[[], IntervalPolicy],
        student: IntervalPolicy,
        deadline_s: float,
        retry_after_s: float = 5.0,
    ) -> None:
        self._build = teacher
        self.student = student
        self.deadline_s = deadline_s
        self.retry_after_s = retry_after_s
        self.teacher: IntervalPolicy | None = None
        self.name = f"live(teacher, else {student.name})"
        self.teacher_rounds = 0  # intervals the teacher decided
        self.student_rounds = 0  # ... the student decided
        self.late = 0  # the teacher missed the deadline (or was still busy)
        self.failures = 0
        self.last_error = ""
        self.latency_s = 0.0  # the teacher's last completed call
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="live-teacher")
        self._job: Future | None = None
        self._retry_at = 0.0
        self._history: Any | None = None
        self._load()

    def _load(self) -> None:
        try:
            teacher = self._build()
            if self._history is not None and callable(getattr(teacher, "bind_history", None)):
                teacher.bind_history(self._history)
        except Exception as exc:  # the student decides meanwhile
            self._fail(f"cannot load the teacher: {exc}")
            return
        self.teacher = teacher
        self.name = f"live({teacher.name}, else {self.student.name})"
        log.info("live teacher %s ready (deadline %.1f ms)", teacher.name, self.deadline_s * 1000)

    def _fail(self, why: str) -> None:
        self.failures += 1
        if why != self.last_error:
            log.error("live teacher off, the student decides: %s", why)
        self.last_error = why
        self.teacher = None
        self._retry_at = time.monotonic() + self.retry_after_s

    def bind_history(self, history: Any) -> None:
        self._history = history
        for p in (self.teacher, self.student):
            bind = getattr(p, "bind_history", None)
            if callable(bind):
                bind(history)

    def reset(self) -> None:
        self.student.reset()
        if self.teacher is not None:
            self.teacher.reset()

    def _timed(self, teacher: IntervalPolicy, records: np.ndarray) -> tuple[Any, float]:
        t0 = time.perf_counter()
        return teacher.residuals(records), time.perf_counter() - t0

    def residuals(self, records: np.ndarray) -> dict[str, np.ndarray]:
        if self.teacher is None and time.monotonic() >= self._retry_at:
            self._load()
        if self._job is not None and self._job.done():
            self._job = None  # a late answer: its records were answered already
        teacher = self.teacher
        if teacher is not None and self._job is None:
            self._job = self._pool.submit(self._timed, teacher, records.copy())
            try:
                raw, seconds = self._job.result(timeout=self.deadline_s)
            except FutureTimeout:
                self.late += 1
            except Exception as exc:  # the teacher's bug is not the loop's
                self._job = None
                self._fail(f"{type(exc).__name__}: {exc}")
            else:
                self._job = None
                self.latency_s = seconds
                try:
                    answer = check_residuals(raw, len(records), teacher.name)
                except Exception as exc:
                    self._fail(str(exc))
                else:
                    self.teacher_rounds += 1
                    return answer
        elif teacher is not None:
            self.late += 1  # still busy with an earlier round
        self.student_rounds += 1
        return check_residuals(self.student.residuals(records), len(records), self.student.name)

    def snapshot(self) -> dict[str, Any]:
        return {
            "on": self.teacher is not None,
            "teacher_rounds": self.teacher_rounds,
            "student_rounds": self.student_rounds,
            "late": self.late,
            "failures": self.failures,
            "last_error": self.last_error,
            "latency_ms": self.latency_s * 1000,
        }

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
