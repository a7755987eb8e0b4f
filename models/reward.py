"""The reward an AQM decision earns, from the record it was made on.

Each class's queue delay is priced against its own target (L 1 ms, C
15 ms); a drop costs a packet (loss); a mark costs a little (it slows a
sender, which is the point, but not for free); signalling into an almost
empty queue costs utilisation.  Returns-to-go sum these per episode.
"""

from __future__ import annotations

import numpy as np
from aqmllm.bridge import layout
from aqmllm.models.features import class_target_ns

W_DELAY = 1.0
W_LOSS = 0.5
W_MARK = 0.05
W_IDLE = 1.0
GAMMA = 0.99


def step_rewards(records: np.ndarray, actions: np.ndarray) -> np.ndarray:
    target = class_target_ns(records)
    delay = (records["sojourn_ns"].astype(np.float32) + records["est_wait_ns"]) / (2 * target)
    excess = np.maximum(delay - 1.0, 0.0)
    drop = actions == layout.ACT_DROP
    mark = actions == layout.ACT_MARK
    idle_signal = (drop | mark) & (records["qlen_pkts"] <= 2)
    r = -W_DELAY * np.minimum(excess, 20.0) - W_LOSS * drop - W_MARK * mark - W_IDLE * idle_signal
    return r.astype(np.float32)


def returns_to_go(rewards: np.ndarray, episode: np.ndarray, gamma: float = GAMMA) -> np.ndarray:
    """Discounted return from each step to the end of its episode."""
    out = np.empty_like(rewards)
    acc = 0.0
    for i in range(len(rewards) - 1, -1, -1):
        if i == len(rewards) - 1 or episode[i] != episode[i + 1]:
            acc = 0.0
        acc = float(rewards[i]) + gamma * acc
        out[i] = acc
    return out
