"""The residual action space: discrete levels per knob, the one table of them.

A residual (PLAN-interval.md) has four knobs; a policy picks one level of
each (a factored action: one categorical head per knob).  Level 0 of every
knob is "keep the fallback" (value 0), so the all-zero action is exactly
the fallback.  Values are what the residual verdict carries: log2 scales in
Q8 fixed point, the L step in microseconds.  Every value lies inside the
kernel's clamps (target x1/4..x2, multipliers x1/8..x8, step 250..4000 us).

Knobs a fallback cannot use are masked: PIE has no L step; CoDel has no
probability to multiply and no step (its target scales with its interval).
When issue 15 puts the tables in the ring header or a manifest field, this
module reads them from there.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from aqmllm.models.rl.records import FB_CODEL, FB_DUALPI2, FB_PIE, Q8


@dataclass(frozen=True)
class Knob:
    name: str
    levels: tuple[float, ...]  # level 0 is always 0 = the fallback's own setting
    unit: str


KNOBS: tuple[Knob, ...] = (
    Knob("target", (0.0, -2.0, -1.5, -1.0, -0.5, 0.5, 1.0), "log2 of the classic target scale"),
    Knob("mult_c", (0.0, -3.0, -2.0, -1.0, 1.0, 2.0, 3.0), "log2 multiplier on C's signal"),
    Knob("mult_l", (0.0, -3.0, -2.0, -1.0, 1.0, 2.0, 3.0), "log2 multiplier on L's signal"),
    Knob("step", (0.0, 250.0, 500.0, 1000.0, 2000.0, 4000.0), "L step threshold, us (0 keeps)"),
)
KNOB_NAMES = tuple(k.name for k in KNOBS)
N_LEVELS = tuple(len(k.levels) for k in KNOBS)
OFFSETS = tuple(int(x) for x in np.cumsum((0, *N_LEVELS))[:-1])
TOTAL_LEVELS = int(sum(N_LEVELS))
N_KNOBS = len(KNOBS)
TARGET, MULT_C, MULT_L, STEP = range(N_KNOBS)

# which knobs each fallback can use (others only take level 0)
USABLE = {
    FB_DUALPI2: (TARGET, MULT_C, MULT_L, STEP),
    FB_PIE: (TARGET, MULT_C, MULT_L),
    FB_CODEL: (TARGET,),
}


def valid_mask(fb_id: np.ndarray) -> np.ndarray:
    """(n, TOTAL_LEVELS) bool: the levels each queue's fallback accepts."""
    fb = np.asarray(fb_id).reshape(-1)
    mask = np.zeros((len(fb), TOTAL_LEVELS), bool)
    for k in range(N_KNOBS):
        mask[:, OFFSETS[k]] = True  # "keep the fallback" is always valid
    for fid, knobs in USABLE.items():
        rows = fb == fid
        for k in knobs:
            mask[rows, OFFSETS[k] : OFFSETS[k] + N_LEVELS[k]] = True
    return mask


def check_actions(actions: np.ndarray) -> None:
    a = np.asarray(actions)
    if a.ndim != 2 or a.shape[1] != N_KNOBS:
        raise ValueError(f"actions: expected shape (n, {N_KNOBS}), got {a.shape}")
    for k, n in enumerate(N_LEVELS):
        if len(a) and (a[:, k].min() < 0 or a[:, k].max() >= n):
            raise ValueError(f"actions: knob {KNOB_NAMES[k]} has a level outside 0..{n - 1}")


def flat_index(actions: np.ndarray) -> np.ndarray:
    """(n, N_KNOBS) level indices -> (n, N_KNOBS) columns in the concatenated logits."""
    return np.asarray(actions, np.int64) + np.asarray(OFFSETS, np.int64)


def to_residual(actions: np.ndarray) -> dict[str, np.ndarray]:
    """Level indices -> the residual verdict's fields (Q8 log2 scales, step in us)."""
    check_actions(actions)
    a = np.asarray(actions, np.int64)

    def value(k: int) -> np.ndarray:
        return np.asarray(KNOBS[k].levels)[a[:, k]]

    mult = np.stack([value(MULT_C), value(MULT_L)], axis=1)
    return {
        "res_log2_target": np.round(value(TARGET) * Q8).astype(np.int16),
        "res_log2_mult": np.round(mult * Q8).astype(np.int16),  # [:, CLASS_C], [:, CLASS_L]
        "res_step_us": value(STEP).astype(np.uint16),
    }


def nearest_levels(
    log2_target: np.ndarray, log2_mult_c: np.ndarray, log2_mult_l: np.ndarray, step_us: np.ndarray
) -> np.ndarray:
    """Residual values (log2 floats, step us) -> the nearest level of each knob."""
    cols = [log2_target, log2_mult_c, log2_mult_l, step_us]
    out = np.empty((len(np.atleast_1d(cols[0])), N_KNOBS), np.int64)
    for k, col in enumerate(cols):
        levels = np.asarray(KNOBS[k].levels)
        out[:, k] = np.abs(np.atleast_1d(col)[:, None] - levels[None, :]).argmin(axis=1)
    return out


DEFAULT_STEP_US = 1000.0  # DualPI2's L step (RFC 9332), what step level 0 keeps by default


def sorted_levels(knob: int) -> np.ndarray:
    """The knob's level indices in increasing effective value (for policies that step up or
    down); the step's "keep" level counts as the default 1 ms step."""
    values = np.asarray(KNOBS[knob].levels, float)
    if knob == STEP:
        values = np.where(values == 0, DEFAULT_STEP_US, values)
    return np.argsort(values, kind="stable")


def table() -> dict[str, dict[str, object]]:
    """The tables as a manifest/pool header field."""
    return {k.name: {"levels": list(k.levels), "unit": k.unit} for k in KNOBS}
