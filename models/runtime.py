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
from aqmllm.models.actions import queue_means, sample_actions
from aqmllm.models.checkpoint import ModelError, load_tensors, read_manifest
from aqmllm.models.features import QueueHistory, as_records
from aqmllm.models.student import StudentWeights

__all__ = ["ModelError", "StudentPolicy", "load_policy", "sample_actions"]


class StudentPolicy:
    """The student as the daemon runs it: one C call per batch (features,
    history, MLP, masking, sampling; ``models/csrc/student_fast.c``)."""

    def __init__(self, weights: StudentWeights, name: str = "student", seed: int = 1) -> None:
        from aqmllm.models._studentc import ffi, lib

        self.weights = weights
        self.name = name
        self.history = QueueHistory()
        self._rng = np.random.default_rng(seed)
        self._ffi, self._lib = ffi, lib
        # C-contiguous float32 copies the layer structs point into, kept alive here.
        self._arrays = [
            (np.ascontiguousarray(w, np.float32), np.ascontiguousarray(b, np.float32))
            for w, b in weights.layers
        ]
        self._layers = ffi.new("struct aqs_layer[]", len(self._arrays))
        for i, (w, b) in enumerate(self._arrays):
            if w.ndim != 2 or w.shape[1] > lib.AQS_MAX_WIDTH:
                raise ModelError(
                    f"{name}: layer {i} of shape {w.shape} (widest {lib.AQS_MAX_WIDTH})"
                )
            self._layers[i].w = ffi.from_buffer("float[]", w)
            self._layers[i].b = ffi.from_buffer("float[]", b)
            self._layers[i].n_in, self._layers[i].n_out = w.shape

    def reset(self) -> None:
        self.history.reset()

    def _decide(
        self, records: np.ndarray, probs: np.ndarray | None, fresh: bool = False
    ) -> np.ndarray:
        ffi, lib = self._ffi, self._lib
        recs = as_records(records)
        n = len(recs)
        # fresh: an empty history of its own and no draws, so nothing moves on
        h = QueueHistory() if fresh else self.history
        h._grow(int(recs["queue_id"].max(initial=0)))
        if fresh:
            uniforms = np.zeros(n, dtype=np.float32)
        else:
            uniforms = self._rng.random(n, dtype=np.float32)
        actions = np.empty(n, dtype=np.uint8)
        rc = lib.aqs_student_decide(
            ffi.from_buffer("struct aqmllm_record[]", recs),
            n,
            ffi.from_buffer("float[]", h.series),
            h.nqueues,
            ffi.from_buffer("double[]", h.scratch),
            self._layers,
            len(self._arrays),
            ffi.from_buffer("float[]", uniforms),
            ffi.from_buffer("uint8_t[]", actions),
            ffi.NULL if probs is None else ffi.from_buffer("float[]", probs),
        )
        if rc == lib.AQS_ENONFINITE:
            raise ModelError(f"{self.name}: non-finite output")
        if rc != lib.AQS_OK:
            raise ModelError(f"{self.name}: the student's fast path refused the batch (code {rc})")
        return actions

    def probabilities(self, records: np.ndarray, fresh: bool = False) -> np.ndarray:
        """(n, 3) over {pass, drop, mark}; the history moves on as in decide().

        ``fresh``: as seen from an empty history, leaving the policy's own
        history and random state untouched (the load-time probe).
        """
        probs = np.empty((len(records), 3), dtype=np.float32)
        if len(records):
            self._decide(records, probs, fresh)
        return probs

    def decide(self, records: np.ndarray) -> np.ndarray:
        if len(records) == 0:
            return np.zeros(0, dtype=np.uint8)
        return self._decide(records, None)

    def queue_policies(self, records: np.ndarray) -> dict[int, tuple[float, float]]:
        return queue_means(records, self.probabilities(records))


def _check_student_architecture(manifest: dict, folder: Path, weights: StudentWeights) -> None:
    """What the manifest says of the student must be what the tensors are."""
    arch = (manifest.get("architecture") or {}).get("student") or {}
    said = {"hidden": arch.get("hidden"), "input_dim": arch.get("input_dim")}
    real = {"hidden": weights.hidden, "input_dim": int(weights.layers[0][0].shape[0])}
    for key, value in said.items():
        if value is not None and value != real[key]:
            raise ModelError(
                f"{folder}: the manifest says student {key} {value}, the tensors are {real[key]}"
            )


def load_policy(path: str | Path):
    """The per-packet model at ``path`` (a manifest or its folder), its files verified.

    Digests, tensor table and architecture are checked here; whether the
    model's answers make sense is :func:`aqmllm.models.probe.probe_policy`.
    An interval-tier model is refused by name (see interval_runtime).
    """
    manifest, folder = read_manifest(path, mode="packet")
    kind = manifest["kind"]
    if kind == "student":
        try:
            weights = StudentWeights.from_tensors(load_tensors(manifest, folder))
        except ValueError as exc:
            raise ModelError(f"{folder}: {exc}") from None
        _check_student_architecture(manifest, folder, weights)
        return StudentPolicy(weights, name=manifest.get("training", {}).get("name", "student"))
    if kind == "teacher":
        from aqmllm.models.teacher import TeacherPolicy

        return TeacherPolicy.load(manifest, folder)
    raise ModelError(f"{folder}: unknown model kind {kind!r} (student or teacher)")
