"""Small interval pools for the RL tests: a toy task where one action is clearly better."""

from __future__ import annotations

import numpy as np
from aqmllm.models.rl import levels
from aqmllm.models.rl.pool import IntervalEpisode
from aqmllm.models.rl.records import FB_DUALPI2, FB_PIE

WINDOW, FEATURES = 4, 3
SCHEMA = {"name": "toy", "window": WINDOW, "features": FEATURES}
GOOD_LOW, GOOD_HIGH = 2, 5  # the better target level when feature 0 is < 0 / >= 0


def toy_episode(
    rng: np.random.Generator, steps: int, scenario: str, fb: int = FB_DUALPI2, seed: int = 1
) -> IntervalEpisode:
    """States are random; the reward is 1 when the target level fits the state's sign.

    Actions are uniform over the valid levels (a random behaviour), so the
    better action is in the data but not more frequent than the others.
    """
    states = rng.normal(size=(steps + 1, WINDOW, FEATURES)).astype(np.float32)
    valid = levels.valid_mask(np.full(steps, fb))
    actions = np.zeros((steps, levels.N_KNOBS), np.int64)
    for k in range(levels.N_KNOBS):
        cols = valid[:, levels.OFFSETS[k] : levels.OFFSETS[k] + levels.N_LEVELS[k]]
        for t in range(steps):
            actions[t, k] = rng.choice(np.nonzero(cols[t])[0])
    best = np.where(states[:-1, -1, 0] < 0, GOOD_LOW, GOOD_HIGH)
    rewards = (actions[:, levels.TARGET] == best).astype(np.float32)
    return IntervalEpisode(
        states[:-1],
        actions,
        rewards,
        states[1:],
        valid,
        scenario,
        seed,
        {"name": "uniform-random", "fallback": "dualpi2" if fb == FB_DUALPI2 else "pie"},
    )


def toy_episodes(n: int = 4, steps: int = 64, seed: int = 0) -> list[IntervalEpisode]:
    rng = np.random.default_rng(seed)
    return [
        toy_episode(rng, steps, f"toy-{i % 2}", FB_PIE if i == n - 1 else FB_DUALPI2, i)
        for i in range(n)
    ]
