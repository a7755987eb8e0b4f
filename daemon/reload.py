"""SIGHUP, transactionally: build the new state in a thread, swap between batches.

The signal handler only asks (:meth:`Reloader.request`); the packet loop
goes on deciding with the running state while the new one is built aside
(loading a model, or an LLM teacher, takes from milliseconds to tens of
seconds).  The driver's idle hook calls :meth:`Reloader.poll`, which starts
a build when one was asked for and, when it is done, returns the new state
(to swap in) or the reason it failed (the running state stays).  A SIGHUP
that arrives during a build starts another one after it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Reloader(Generic[T]):
    def __init__(self, build: Callable[[], T]) -> None:
        self._build = build
        self._wanted = False
        self._thread: threading.Thread | None = None
        self._result: T | None = None
        self._error: str | None = None

    def request(self) -> None:
        """Async-signal safe: just a flag."""
        self._wanted = True

    def busy(self) -> bool:
        return self._thread is not None

    def _run(self) -> None:
        try:
            self._result = self._build()
        except Exception as exc:  # every failure is a reason to keep the running state
            self._error = str(exc) or type(exc).__name__

    def poll(self) -> tuple[T | None, str | None] | None:
        """None while nothing finished; else (new state, None) or (None, why it failed)."""
        if self._thread is not None:
            if self._thread.is_alive():
                return None
            self._thread = None
            done = (self._result, self._error)
            self._result = self._error = None
            return done
        if self._wanted:
            self._wanted = False
            self._thread = threading.Thread(target=self._run, name="reload", daemon=True)
            self._thread.start()
        return None
