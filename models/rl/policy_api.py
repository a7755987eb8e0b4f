"""What an interval policy is, for pools and closed-loop runs.

A policy sees, each interval, the newest interval record of every queue
that produced one (a structured array, models/rl/records.py) and answers
with one factored residual per queue: (Q, N_KNOBS) level indices
(models/rl/levels.py), valid for each queue's fallback.  It keeps whatever
per-queue history it needs, keyed by ``queue_id``.  ``describe()`` is a
JSON-able dict (its name and parameters) that pools store as the episode's
behaviour.  The runner turns levels into residual verdicts with
``levels.to_residual``.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
from aqmllm.models.rl import levels


class IntervalPolicy(Protocol):
    name: str

    def describe(self) -> dict[str, Any]: ...

    def reset(self) -> None: ...

    def act(self, records: np.ndarray) -> np.ndarray: ...


def restrict_to_valid(actions: np.ndarray, fb_id: np.ndarray) -> np.ndarray:
    """Levels a queue's fallback cannot use become 0 (keep the fallback)."""
    out = np.array(actions, np.int64, copy=True)
    valid = levels.valid_mask(fb_id)
    taken = np.take_along_axis(valid, levels.flat_index(out), axis=1)
    out[~taken] = 0
    return out


class Fallback:
    """The all-zero residual: exactly the fallback AQM."""

    name = "fallback"

    def describe(self) -> dict[str, Any]:
        return {"name": self.name}

    def reset(self) -> None:
        pass

    def act(self, records: np.ndarray) -> np.ndarray:
        return np.zeros((len(records), levels.N_KNOBS), np.int64)


class ConstantResidual:
    """One residual for every queue and interval: a classic AQM with other parameters.

    A constant target scale is another target; a constant multiplier on the
    signal probability from the start is the PI controller with its gains
    (alpha, beta) scaled by it (the output is linear in the integrator); a
    constant step is another L step.  So "DualPI2 with randomised target,
    gains and step" is this, with randomly drawn levels.
    """

    def __init__(
        self, base: np.ndarray | list[int], name: str = "constant", params: dict | None = None
    ) -> None:
        self.base = np.asarray(base, np.int64).reshape(levels.N_KNOBS)
        levels.check_actions(self.base[None])
        self.name = name
        self.params = dict(params or {})

    def describe(self) -> dict[str, Any]:
        knobs = dict(zip(levels.KNOB_NAMES, self.base.tolist(), strict=True))
        return {"name": self.name, "levels": knobs, **self.params}

    def reset(self) -> None:
        pass

    def act(self, records: np.ndarray) -> np.ndarray:
        return restrict_to_valid(np.tile(self.base, (len(records), 1)), records["fb_id"])
