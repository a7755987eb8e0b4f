"""What the per-packet loop and the interval loop share: a model in a policy slot, watched
by the daemon's watchdog, on a ring they take over and let go.

A stage (the driver's word for a loop) keeps its model in a
:class:`~aqmllm.daemon.policy_slot.PolicySlot` and times each call through
its own :class:`~aqmllm.daemon.watchdog.CallTimer` (its limit:
``settings.model_timeout_ms``).  :meth:`SlotStage.activate` takes the ring
over (attach, watch the calls, tell the kernel who decides),
:meth:`SlotStage.retire` lets go without detaching (a successor takes
over), :meth:`SlotStage.use_ring` goes on with a restarted producer's new
ring.  A loop says what a new ring resets (``rebase``) and, where it does
not own the ring's daemon line, overrides ``_publish``.
"""

from __future__ import annotations

import logging
from typing import Any, TypeVar

from aqmllm.bridge.ring import Ring
from aqmllm.daemon.policy_slot import PolicySlot, tell_kernel
from aqmllm.daemon.watchdog import CallTimer, Watchdog

log = logging.getLogger("aqmllmd")

S = TypeVar("S")


def settings_of(value: Any, cls: type[S]) -> S:
    """A loop's settings from themselves, a daemon Config (``cls.from_config``) or None."""
    if value is None:
        return cls()
    if isinstance(value, cls):
        return value
    return cls.from_config(value)  # type: ignore[attr-defined, no-any-return]


class SlotStage:
    kind = ""
    ring: Ring
    settings: Any  # .model_timeout_ms
    slot: PolicySlot
    timer: CallTimer
    watchdog: Watchdog

    # ---- the policy, as the rest of the daemon sees it ----
    @property
    def policy(self) -> Any:
        return self.slot.policy

    @property
    def off_reason(self) -> str:
        return self.slot.off_reason

    def _limit_s(self) -> float:
        return self.settings.model_timeout_ms / 1000

    # ---- owning the ring ----
    def _publish(self, off: bool) -> None:
        """Tell the kernel whether the policy decides; show the fallback episodes beside it."""
        tell_kernel(self.ring, self.slot, off)

    def rebase(self, ring: Ring) -> None:
        """Before activation: work on another ring (a loop resets its per-ring state too)."""
        self.ring = ring

    def activate(self) -> None:
        """Take the ring over: attach, watch the model calls, tell the kernel who decides."""
        self.slot.publish = self._publish
        if not self.slot.announce:
            self.slot.say_ready()
        self.slot.announce = True
        if self.timer not in self.watchdog.timers:
            self.watchdog.timers.append(self.timer)
        self.ring.attach()
        self._publish(self.slot.policy is None)

    def retire(self) -> None:
        """Let go of the ring without detaching it (a successor takes over)."""
        self.slot.publish = lambda _off: None
        if self.timer in self.watchdog.timers:
            self.watchdog.timers.remove(self.timer)

    def use_ring(self, ring: Ring) -> None:
        """Go on with a new ring (a restarted producer); per-ring state starts over."""
        self.rebase(ring)
        self.slot.publish = self._publish
        ring.attach()
        self._publish(self.policy is None)

    def _on_hang(self, ms: float) -> None:
        """From the watchdog thread: a model call has not answered within its limit."""
        self.slot.episode_starts()
        self._publish(True)
        log.error(
            "%s off: the model has not answered for %.0f ms (limit %d ms)",
            self.slot.what,
            ms,
            self.settings.model_timeout_ms,
        )
