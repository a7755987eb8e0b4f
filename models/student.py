"""The line-rate student: a small MLP over record features.

Input: the scalar features of the record and the summary of its queue's
series.  Output: logits over {pass, drop, mark}; mark is masked for Not-ECT
packets.  Inference is numpy float32, batched, with no per-record Python;
training (distillation) uses the torch twin in :func:`torch_module`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from aqmllm.models.features import (
    SCALAR_NAMES,
    SUMMARY_NAMES,
    QueueHistory,
    scalar_features,
    series_summary,
    valid_action_mask,
)

INPUT_DIM = len(SCALAR_NAMES) + len(SUMMARY_NAMES)
NEG = np.float32(-1e9)


@dataclass
class StudentWeights:
    layers: list[tuple[np.ndarray, np.ndarray]]  # (W: in x out, b: out), ReLU between

    @property
    def hidden(self) -> list[int]:
        return [w.shape[1] for w, _ in self.layers[:-1]]

    def n_params(self) -> int:
        return sum(w.size + b.size for w, b in self.layers)

    def tensors(self) -> dict[str, np.ndarray]:
        out = {}
        for i, (w, b) in enumerate(self.layers):
            out[f"l{i}.weight"] = w.astype(np.float32)
            out[f"l{i}.bias"] = b.astype(np.float32)
        return out

    @classmethod
    def from_tensors(cls, tensors: dict[str, np.ndarray]) -> StudentWeights:
        layers = []
        i = 0
        while f"l{i}.weight" in tensors:
            layers.append(
                (
                    tensors[f"l{i}.weight"].astype(np.float32),
                    tensors[f"l{i}.bias"].astype(np.float32),
                )
            )
            i += 1
        if not layers:
            raise ValueError("no student layers in the weights")
        dims = [layers[0][0].shape[0]] + [w.shape[1] for w, _ in layers]
        for (w, b), (d_in, d_out) in zip(layers, zip(dims, dims[1:], strict=False), strict=True):
            if w.shape != (d_in, d_out) or b.shape != (d_out,):
                raise ValueError(f"layer shapes do not chain: {w.shape} / {b.shape}")
        if dims[0] != INPUT_DIM or dims[-1] != 3:
            raise ValueError(f"student maps {dims[0]} -> {dims[-1]}, expected {INPUT_DIM} -> 3")
        return cls(layers)

    @classmethod
    def random(cls, hidden: tuple[int, ...] = (32, 32), seed: int = 0) -> StudentWeights:
        rng = np.random.default_rng(seed)
        dims = [INPUT_DIM, *hidden, 3]
        layers = [
            (rng.normal(0, np.sqrt(2.0 / a), (a, b)).astype(np.float32), np.zeros(b, np.float32))
            for a, b in zip(dims, dims[1:], strict=False)
        ]
        return cls(layers)


def student_inputs(records: np.ndarray, history: QueueHistory) -> tuple[np.ndarray, np.ndarray]:
    """(features, scalars) for a batch; the history is read, not updated."""
    scalars = scalar_features(records)
    summary = series_summary(history.lookup(records))
    return np.concatenate([scalars, summary], axis=1), scalars


def forward_logits(w: StudentWeights, x: np.ndarray) -> np.ndarray:
    h = x
    last = len(w.layers) - 1
    for i, (wi, bi) in enumerate(w.layers):
        h = h @ wi
        h += bi
        if i < last:
            np.maximum(h, 0, out=h)
    return h


def masked_logits(w: StudentWeights, x: np.ndarray, records: np.ndarray) -> np.ndarray:
    logits = forward_logits(w, x)
    logits[~valid_action_mask(records)] = NEG
    return logits


def torch_module(hidden: tuple[int, ...] = (32, 32)):
    """The trainable twin of the numpy student."""
    import torch.nn as nn

    dims = [INPUT_DIM, *hidden, 3]
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(dims, dims[1:], strict=False)):
        layers.append(nn.Linear(a, b))
        if i < len(dims) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def weights_from_torch(module) -> StudentWeights:
    import torch.nn as nn

    linears = [m for m in module if isinstance(m, nn.Linear)]
    return StudentWeights(
        [
            (m.weight.detach().cpu().numpy().T.copy(), m.bias.detach().cpu().numpy().copy())
            for m in linears
        ]
    )
