"""The teacher: state encoder -> LLM backbone (LoRA) -> L4S-LM head.

Each decision is one forward pass over three token embeddings fed to the
backbone through ``inputs_embeds`` (no text, no tokenizer): the return to
go (Decision Transformer / NetLLM conditioning), the record's scalar
features (fully connected) and its queue's time series (Conv1d).  The
L4S-LM head maps the last hidden state to logits over {pass, drop, mark};
mark is masked for Not-ECT packets.  Only the encoder, the head and the
LoRA adapters train.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn
from aqmllm.models.actions import queue_means, sample_actions
from aqmllm.models.backbone import load_backbone, with_lora
from aqmllm.models.checkpoint import ModelError, load_tensors, save_checkpoint
from aqmllm.models.features import (
    SCALAR_NAMES,
    SERIES_LEN,
    SERIES_NAMES,
    QueueHistory,
    scalar_features,
    valid_action_mask,
)

N_TOKENS = 3
RTG_SCALE = 100.0  # returns are divided by this before embedding


@dataclass
class TeacherSpec:
    backbone: str = "smollm2"
    lora_r: int = 8
    lora_alpha: int = 16
    lora_targets: list[str] = field(default_factory=lambda: ["q_proj", "v_proj"])
    lora: bool = True
    d_enc: int = 128
    target_return: float = 0.0  # the return asked for at inference


class StateEncoder(nn.Module):
    def __init__(self, hidden: int, d_enc: int) -> None:
        super().__init__()
        n_s, n_c = len(SCALAR_NAMES), len(SERIES_NAMES)
        self.scalars = nn.Sequential(nn.Linear(n_s, d_enc), nn.GELU(), nn.Linear(d_enc, d_enc))
        self.series = nn.Sequential(
            nn.Conv1d(n_c, d_enc // 2, kernel_size=3, padding=1),
            nn.GELU(),
            nn.Conv1d(d_enc // 2, d_enc // 2, kernel_size=3, padding=1),
            nn.GELU(),
        )
        self.series_out = nn.Linear(d_enc // 2 * SERIES_LEN, d_enc)
        self.rtg = nn.Linear(1, d_enc)
        self.project = nn.Linear(d_enc, hidden)
        self.kind = nn.Parameter(torch.zeros(N_TOKENS, hidden))
        self.norm = nn.LayerNorm(hidden)

    def forward(self, scalars: torch.Tensor, series: torch.Tensor, rtg: torch.Tensor):
        s = self.scalars(scalars)
        t = self.series_out(self.series(series).flatten(1))
        r = self.rtg(rtg[:, None] / RTG_SCALE)
        tokens = torch.stack([r, s, t], dim=1)  # (B, 3, d_enc)
        return self.norm(self.project(tokens) + self.kind)


class Teacher(nn.Module):
    def __init__(self, spec: TeacherSpec, backbone: nn.Module | None = None) -> None:
        super().__init__()
        self.spec = spec
        base = backbone if backbone is not None else load_backbone(spec.backbone)
        hidden = base.config.hidden_size
        if spec.lora:
            # LoRA: the pretrained weights stay frozen, only adapters learn.
            base = with_lora(base, spec.lora_r, spec.lora_alpha, spec.lora_targets)
        self.backbone = base
        self.encoder = StateEncoder(hidden, spec.d_enc)
        self.head = nn.Linear(hidden, 3)  # the L4S-LM head

    def forward(self, scalars, series, rtg, mask) -> torch.Tensor:
        embeds = self.encoder(scalars, series, rtg)
        out = self.backbone(inputs_embeds=embeds, output_hidden_states=True)
        last = out.hidden_states[-1][:, -1]
        logits = self.head(last)
        return logits.masked_fill(~mask, -1e9)

    def trainable_state(self) -> dict[str, torch.Tensor]:
        names = {n for n, p in self.named_parameters() if p.requires_grad}
        return {n: t for n, t in self.state_dict().items() if n in names}

    def n_trainable(self) -> tuple[int, int]:
        train = sum(p.numel() for p in self.parameters() if p.requires_grad)
        return train, sum(p.numel() for p in self.parameters())


def batch_tensors(scalars, series, rtg, mask, device="cpu"):
    return (
        torch.as_tensor(np.asarray(scalars, np.float32), device=device),
        torch.as_tensor(np.asarray(series, np.float32), device=device),
        torch.as_tensor(np.asarray(rtg, np.float32), device=device),
        torch.as_tensor(np.asarray(mask, bool), device=device),
    )


def save_teacher(model: Teacher, folder: str | Path, training: dict, metrics: dict) -> Path:
    tensors = {k: v.detach().cpu().numpy() for k, v in model.trainable_state().items()}
    if model.spec.backbone.startswith("tiny"):
        # A random backbone is part of the model: ship it whole.
        tensors = {k: v.detach().cpu().numpy() for k, v in model.state_dict().items()}
    return save_checkpoint(
        folder, "teacher", tensors, {"teacher": asdict(model.spec)}, training, metrics
    )


def load_teacher(manifest: dict[str, Any], folder: Path) -> Teacher:
    try:
        spec = TeacherSpec(**manifest["architecture"]["teacher"])
    except (KeyError, TypeError) as exc:
        raise ModelError(f"{folder}: teacher architecture missing or malformed: {exc}") from None
    model = Teacher(spec)
    tensors = {k: torch.from_numpy(v.copy()) for k, v in load_tensors(manifest, folder).items()}
    missing = [k for k in model.trainable_state() if k not in tensors]
    if missing:
        raise ModelError(f"{folder}: weights lack {len(missing)} tensors, e.g. {missing[0]}")
    try:
        model.load_state_dict(tensors, strict=False)
    except RuntimeError as exc:  # shapes that contradict the architecture
        first = str(exc).strip().splitlines()[-1].strip()
        raise ModelError(
            f"{folder}: weights do not fit the manifest's architecture: {first}"
        ) from None
    model.eval()
    return model


class TeacherPolicy:
    """The teacher as a daemon policy: per-queue probabilities, or sampled actions."""

    def __init__(self, model: Teacher, name: str = "teacher", seed: int = 1) -> None:
        self.model = model
        self.name = name
        self.history = QueueHistory()
        self._rng = np.random.default_rng(seed)

    @classmethod
    def load(cls, manifest: dict[str, Any], folder: Path) -> TeacherPolicy:
        return cls(
            load_teacher(manifest, folder), manifest.get("training", {}).get("name", "teacher")
        )

    def reset(self) -> None:
        self.history.reset()

    @torch.no_grad()
    def probabilities(self, records: np.ndarray, fresh: bool = False) -> np.ndarray:
        """(n, 3); ``fresh``: from an empty history, which is left as it was."""
        history = QueueHistory() if fresh else self.history
        scalars = scalar_features(records)
        series = history.lookup(records)
        rtg = np.full(len(records), self.model.spec.target_return, np.float32)
        logits = self.model(*batch_tensors(scalars, series, rtg, valid_action_mask(records)))
        probs = torch.softmax(logits, dim=1).numpy()
        if not np.isfinite(probs).all():
            raise ModelError(f"{self.name}: non-finite output")
        if not fresh:
            self.history.update(records, scalars)
        return probs

    def decide(self, records: np.ndarray) -> np.ndarray:
        return sample_actions(self.probabilities(records), self._rng)

    def queue_policies(self, records: np.ndarray) -> dict[int, tuple[float, float]]:
        return queue_means(records, self.probabilities(records))
