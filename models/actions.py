"""From a model's action distribution to what the daemon writes: sampled
per-packet verdicts, or per-queue drop and mark probabilities.  Shared by
every policy (student and teacher), so they answer alike."""

from __future__ import annotations

import numpy as np


def sample_actions(probs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One draw per row of a (n, 3) distribution; returns action codes 1..3."""
    u = rng.random(len(probs), dtype=np.float32)[:, None]
    cdf = np.cumsum(probs, axis=1)
    idx = (u > cdf[:, :2]).sum(axis=1)
    return (idx + 1).astype(np.uint8)


def queue_means(records: np.ndarray, probs: np.ndarray) -> dict[int, tuple[float, float]]:
    """{queue id: (mean drop, mean mark probability)} over the records of each queue."""
    q = records["queue_id"].astype(np.int64)
    n = np.bincount(q).astype(np.float64)
    drop = np.bincount(q, probs[:, 1]) / np.maximum(n, 1)
    mark = np.bincount(q, probs[:, 2]) / np.maximum(n, 1)
    return {int(i): (float(drop[i]), float(mark[i])) for i in np.nonzero(n)[0]}
