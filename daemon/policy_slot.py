"""The model a loop asks, and what happens when it fails: "policy off".

A failing model (it cannot load, fails the load-time probe, raises, returns
NaN or bad codes, or is too slow) is dropped; the kernel then decides with
its fallback AQM, and the model is built again ``retry_after_s`` later.
Every stretch of "policy off" is a fallback episode: how many there were
and how long they lasted are kept for telemetry.

The slot tells the kernel through ``publish`` (the ring's daemon line,
:func:`tell_kernel`); a slot built aside for a reload publishes nothing
until it is activated.  The per-packet loop and the interval loop each
have one (``tier``: what its log lines call the policy and what "off"
means for the queues).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from aqmllm.bridge.ring import Ring
from aqmllm.daemon.policies import Policy, PolicyError

log = logging.getLogger("aqmllmd")

PolicySource = Policy | Callable[[], Policy]
# tier -> (what the log calls its policy, what happens while it is off)
TIERS = {
    "packet": ("policy", "the kernel's fallback decides"),
    "interval": ("interval policy", "the queues' residuals expire"),
}


def as_factory(policy: Any) -> Callable[[], Any]:
    """A policy class or a function builds one; an object that decides (decide(), or an
    interval policy's residuals()) is one."""
    if isinstance(policy, type) or not (hasattr(policy, "decide") or hasattr(policy, "residuals")):
        return policy  # type: ignore[no-any-return]
    return lambda: policy


def tell_kernel(ring: Ring, slot: PolicySlot, off: bool) -> None:
    """The ring's daemon line: whether the policy decides, and the fallback episodes."""
    ring.set_policy_off(off)
    closed_s, since = slot.episode_times()
    since_ns = 0
    if since is not None:
        since_ns = max(1, ring.producer_clock() - int((time.monotonic() - since) * 1e9))
    ring.record_fallbacks(slot.episodes, int(closed_s * 1e9), since_ns)


class PolicySlot:
    def __init__(
        self,
        source: PolicySource,
        retry_after_s: float,
        stats: Any,
        label: str = "",
        announce: bool = True,
        tier: str = "packet",
    ) -> None:
        self.retry_after_s = retry_after_s
        # What telemetry calls the model: the last one loaded, else what was asked for.
        self.model_label = label or "none"
        self.stats = stats  # counts the failures (.failures)
        self.what, self.while_off = TIERS[tier]
        self.policy: Policy | None = None
        self.off_reason = ""
        self.episodes = 0  # fallback episodes: stretches of "policy off"
        self.publish: Callable[[bool], None] = lambda _off: None  # True: policy off
        # A slot built aside for a reload keeps quiet: its failure is the reload's.
        self.announce = announce
        self._factory = as_factory(source)
        self._retry_at = 0.0
        self._off_since: float | None = None
        self._off_seconds = 0.0  # closed episodes
        self._lock = threading.Lock()  # the watchdog opens episodes from its thread
        self.load()

    # ---- the lifecycle ----
    def load(self) -> bool:
        try:
            policy = self._factory()
        except PolicyError as exc:
            self.off(f"cannot load the {self.what}: {exc}")
            return False
        except Exception as exc:  # a broken model package must not kill the daemon
            self.off(f"cannot load the {self.what}: {type(exc).__name__}: {exc}")
            return False
        self.policy = policy
        self.off_reason = ""
        self.model_label = str(policy.name)
        if self.announce:
            self.say_ready()
        self._episode_ends()
        self.publish(False)
        return True

    def say_ready(self) -> None:
        if self.policy is not None:
            log.info("%s %s ready", self.what, self.policy.name)

    def current(self) -> Policy | None:
        """The policy to ask now; a failed one is rebuilt once its retry is due."""
        if self.policy is None and time.monotonic() >= self._retry_at:
            self.load()
        return self.policy

    def off(self, reason: str) -> None:
        self.policy = None
        self.stats.failures += 1
        if reason != self.off_reason and self.announce:
            log.error("%s off, %s: %s", self.what, self.while_off, reason)
        self.off_reason = reason
        self._retry_at = time.monotonic() + self.retry_after_s
        self.episode_starts()
        self.publish(True)

    def replace(self, source: PolicySource) -> None:
        self._factory = as_factory(source)
        self.load()

    # ---- fallback episodes ----
    def episode_starts(self, at: float | None = None) -> None:
        with self._lock:
            if self._off_since is None:
                self._off_since = time.monotonic() if at is None else at
                self.episodes += 1

    def _episode_ends(self) -> None:
        with self._lock:
            if self._off_since is not None:
                self._off_seconds += time.monotonic() - self._off_since
                self._off_since = None

    def episode_times(self) -> tuple[float, float | None]:
        """(seconds of the closed episodes, monotonic start of the open one or None)."""
        with self._lock:
            return self._off_seconds, self._off_since

    def off_seconds(self) -> float:
        """Total time spent in fallback episodes, the current one included."""
        since = self._off_since
        return self._off_seconds + (time.monotonic() - since if since is not None else 0.0)

    def adopt_history(self, old: PolicySlot) -> None:
        """A reload keeps the counts of the slot it replaces."""
        with old._lock:
            self.episodes += old.episodes
            self._off_seconds += old.off_seconds()
