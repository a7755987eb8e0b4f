"""How long a model call is expected to take: the median of recent calls.

The loop skips records whose verdict could not arrive before their
packet's dequeue *after* a model call; how long the call takes is
estimated here.  A median, so one stall of the process does not skew it;
refreshed every 8th call (a median of 32 costs ~20 us).
"""

from __future__ import annotations

from collections import deque

import numpy as np

KEEP = 32
REFRESH_EVERY = 8


class CostEstimate:
    def __init__(self) -> None:
        self.value_ns = 0.0  # the current estimate
        self._costs: deque[float] = deque(maxlen=KEEP)
        self._calls = 0

    def add(self, seconds: float) -> None:
        self._costs.append(seconds * 1e9)
        self._calls += 1
        if self._calls % REFRESH_EVERY == 0 or len(self._costs) < REFRESH_EVERY:
            self.value_ns = float(np.median(self._costs))

    def decay(self) -> None:
        """Every record looked late: the estimate may be stale (a cold first
        call, a stall); halve it so the model is tried again."""
        self.value_ns *= 0.5
        self._costs.clear()
