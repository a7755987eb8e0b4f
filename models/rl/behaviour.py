"""Behaviour policies for pools: classic AQMs with random parameters, and random residuals.

Pools must hold actions better than any one expert's, so the behaviours
cover the action space around the classics:

- :func:`randomised_classic` -- DualPI2 / PIE / CoDel with their target,
  gains and (DualPI2) step drawn at random per episode, as a constant
  residual (see ConstantResidual for why that is the same thing);
- :class:`Perturbed` -- any policy (a classic, the adaptive baseline, later
  the student) with bounded random residual excursions: each queue holds a
  random offset of at most ``max_shift`` level positions from what the
  inner policy asks, for a random number of intervals, then another.

Randomness is per (seed, queue_id), so a queue's schedule does not depend
on which other queues exist or in which order records arrive.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from aqmllm.bridge.layout import FALLBACKS
from aqmllm.models.rl import levels
from aqmllm.models.rl.policy_api import ConstantResidual, IntervalPolicy, restrict_to_valid


def randomised_classic(fallback: str, seed: int, p_keep: float = 0.25) -> ConstantResidual:
    """A classic with random parameters: each knob it uses keeps its default with probability
    p_keep, else takes a level drawn uniformly (the table spans the useful range)."""
    if fallback not in FALLBACKS:
        raise ValueError(f"fallback {fallback!r} is not one of {', '.join(FALLBACKS)}")
    fb = FALLBACKS[fallback]
    rng = np.random.default_rng([seed, fb])
    base = np.zeros(levels.N_KNOBS, np.int64)
    for k in levels.USABLE[fb]:
        if rng.random() >= p_keep:
            base[k] = int(rng.integers(1, levels.N_LEVELS[k]))
    return ConstantResidual(base, f"{fallback}-randomised", {"fallback": fallback, "seed": seed})


def _shift(level: np.ndarray, knob: int, shift: np.ndarray) -> np.ndarray:
    """Move levels by `shift` positions in the knob's value order, kept inside the table."""
    order = levels.sorted_levels(knob)
    pos = np.argsort(order)[level]
    return order[np.clip(pos + shift, 0, len(order) - 1)]


class Perturbed:
    def __init__(
        self,
        inner: IntervalPolicy,
        seed: int,
        max_shift: int = 2,
        hold: tuple[int, int] = (4, 32),
        p_perturb: float = 0.5,
    ) -> None:
        if max_shift < 1 or hold[0] < 1 or hold[1] < hold[0] or not 0 <= p_perturb <= 1:
            raise ValueError("perturbation: max_shift >= 1, 1 <= hold min <= max, 0 <= p <= 1")
        self.inner, self.seed = inner, seed
        self.max_shift, self.hold, self.p_perturb = max_shift, hold, p_perturb
        self.name = f"{inner.name}+perturbed"
        self.reset()

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "inner": self.inner.describe(),
            "seed": self.seed,
            "max_shift": self.max_shift,
            "hold": list(self.hold),
            "p_perturb": self.p_perturb,
        }

    def reset(self) -> None:
        self.inner.reset()
        self._rng: dict[int, np.random.Generator] = {}
        self._left: dict[int, int] = {}
        self._offset: dict[int, np.ndarray] = {}

    def bind_history(self, history: Any) -> None:
        """Hand the daemon's per-queue history to an inner policy that reads it (a model)."""
        bind = getattr(self.inner, "bind_history", None)
        if callable(bind):
            bind(history)

    def _offset_for(self, q: int) -> np.ndarray:
        if q not in self._rng:
            self._rng[q] = np.random.default_rng([self.seed, q])
            self._left[q] = 0
        rng = self._rng[q]
        if self._left[q] <= 0:
            self._left[q] = int(rng.integers(self.hold[0], self.hold[1] + 1))
            if rng.random() < self.p_perturb:
                self._offset[q] = rng.integers(-self.max_shift, self.max_shift + 1, levels.N_KNOBS)
            else:
                self._offset[q] = np.zeros(levels.N_KNOBS, np.int64)
        self._left[q] -= 1
        return self._offset[q]

    def act(self, records: np.ndarray) -> np.ndarray:
        base = np.asarray(self.inner.act(records), np.int64)
        offsets = (
            np.stack([self._offset_for(int(q)) for q in records["queue_id"]])
            if len(records)
            else np.zeros((0, levels.N_KNOBS), np.int64)
        )
        out = np.empty_like(base)
        for k in range(levels.N_KNOBS):
            out[:, k] = _shift(base[:, k], k, offsets[:, k])
        return restrict_to_valid(out, records["fb_id"])
