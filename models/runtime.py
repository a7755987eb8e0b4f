"""Loading a trained model for the daemon: `load_policy(path) -> Policy`.

A policy maps a batch of ring records to one action each (uint8: 1 pass,
2 drop, 3 mark), sampling from the model's distribution so that it can
signal with a probability the way the AQMs it learnt from do.  The
student needs numpy only; the teacher needs torch and transformers and
is imported only when a teacher checkpoint is loaded.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from aqmllm.models.checkpoint import ModelError, load_tensors, read_manifest
from aqmllm.models.features import QueueHistory
from aqmllm.models.student import StudentWeights, masked_logits, student_inputs

__all__ = ["ModelError", "StudentPolicy", "load_policy", "sample_actions"]


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z


def sample_actions(probs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One draw per row of a (n, 3) distribution; returns action codes 1..3."""
    u = rng.random(len(probs), dtype=np.float32)[:, None]
    cdf = np.cumsum(probs, axis=1)
    idx = (u > cdf[:, :2]).sum(axis=1)
    return (idx + 1).astype(np.uint8)


class StudentPolicy:
    def __init__(self, weights: StudentWeights, name: str = "student", seed: int = 1) -> None:
        self.weights = weights
        self.name = name
        self.history = QueueHistory()
        self._rng = np.random.default_rng(seed)

    def reset(self) -> None:
        self.history.reset()

    def probabilities(self, records: np.ndarray) -> np.ndarray:
        x, scalars = student_inputs(records, self.history)
        probs = softmax(masked_logits(self.weights, x, records))
        if not np.isfinite(probs).all():
            raise ModelError(f"{self.name}: non-finite output")
        self.history.update(records, scalars)
        return probs

    def decide(self, records: np.ndarray) -> np.ndarray:
        if len(records) == 0:
            return np.zeros(0, dtype=np.uint8)
        return sample_actions(self.probabilities(records), self._rng)

    def queue_policies(self, records: np.ndarray) -> dict[int, tuple[float, float]]:
        probs = self.probabilities(records)
        q = records["queue_id"].astype(np.int64)
        n = np.bincount(q).astype(np.float64)
        drop = np.bincount(q, probs[:, 1]) / np.maximum(n, 1)
        mark = np.bincount(q, probs[:, 2]) / np.maximum(n, 1)
        return {int(i): (float(drop[i]), float(mark[i])) for i in np.nonzero(n)[0]}


def load_policy(path: str | Path):
    manifest, folder = read_manifest(path)
    kind = manifest["kind"]
    if kind == "student":
        try:
            weights = StudentWeights.from_tensors(load_tensors(manifest, folder))
        except ValueError as exc:
            raise ModelError(f"{folder}: {exc}") from None
        return StudentPolicy(weights, name=manifest.get("training", {}).get("name", "student"))
    if kind == "teacher":
        from aqmllm.models.teacher import TeacherPolicy

        return TeacherPolicy.load(manifest, folder)
    raise ModelError(f"{folder}: unknown model kind {kind!r} (student or teacher)")
