"""The blocking driver: wait on the ring, step every loop, follow a restarted producer.

A daemon runs one or more loops on one ring (the per-packet loop, the
interval loop, or both).  The driver asks ``current()`` for them on every
round, so a reload that swaps the daemon's state takes effect at the next
batch boundary, never inside a batch.  What a producer exports and no loop
reads (per-packet records without a per-packet loop, interval records
without an interval loop) is handed back unread, so the producer's rings
never fill for nobody.  The watchdog runs while the driver does.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Protocol

from aqmllm.bridge.ring import Ring, RingError
from aqmllm.daemon.watchdog import Watchdog

log = logging.getLogger("aqmllmd")

FOLLOW_EVERY_S = 0.25  # how often a shm ring's path is checked for a new producer
IDLE_WAKE_S = 1e-3  # idle: wake at least this often to keep the heartbeat fresh


class Stage(Protocol):
    """What the driver needs of a loop."""

    kind: str  # "packet" or "interval": which of the ring's records it reads
    ring: Ring
    settings: object  # batch_size, max_wait_us, busy_poll_us

    def step(self, now_ns: int | None = None) -> int: ...

    def use_ring(self, ring: Ring) -> None: ...


class RingFollower:
    """Re-attach every loop when a shm ring's producer started over with a new file.

    Producers make a new file for each run; the old mapping stays valid.
    While the path is missing or not yet a valid ring, the old one is kept.
    """

    def __init__(self) -> None:
        self._gone_logged = False

    def follow(self, stages: Sequence[Stage]) -> bool:
        old = stages[0].ring
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
        for stage in stages:
            stage.use_ring(new)
        self._gone_logged = False
        log.info(
            "%s: the producer restarted; attached to the new ring (%d records)",
            new.name,
            new.geometry.rec_entries,
        )
        return True


def _gather(ring: Ring, settings: object) -> None:
    """Optionally, a short batch waits up to max_wait for company."""
    max_wait_us = getattr(settings, "max_wait_us", 0)
    batch_size = getattr(settings, "batch_size", 1)
    if max_wait_us and 0 < ring.pending() < batch_size:
        deadline = time.monotonic() + max_wait_us / 1e6
        while ring.pending() < batch_size and time.monotonic() < deadline:
            time.sleep(0)


def hand_back_unread(ring: Ring, stages: Sequence[Stage]) -> None:
    """Release what the producer exports and none of these loops reads."""
    kinds = {stage.kind for stage in stages}
    if "packet" not in kinds:
        n = ring.pending()
        if 0 < n <= ring.geometry.rec_entries:  # else garbage: a packet loop would resync
            ring.consume(n)
    if "interval" not in kinds:
        ring.skip_intervals()


def drive(
    current: Callable[[], Sequence[Stage]],
    watchdog: Watchdog,
    stop: threading.Event,
    on_idle: Callable[[], None] | None = None,
) -> None:
    follower = RingFollower()
    watchdog.start()
    current()[0].ring.heartbeat()
    check_at = time.monotonic() + FOLLOW_EVERY_S
    try:
        while not stop.is_set():
            stages = current()
            ring, settings = stages[0].ring, stages[0].settings
            if time.monotonic() >= check_at:  # a new producer on the same path?
                check_at = time.monotonic() + FOLLOW_EVERY_S
                if follower.follow(stages):
                    continue
            ring.wait(IDLE_WAKE_S, getattr(settings, "busy_poll_us", 0) / 1e6)
            _gather(ring, settings)
            for stage in stages:
                stage.step()
            hand_back_unread(ring, stages)
            if on_idle is not None:
                on_idle()
    finally:
        stop.set()
        watchdog.stop()
