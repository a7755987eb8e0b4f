"""The interval teacher: state encoder -> LLM backbone (LoRA) -> L4S-LM head over residual levels.

The state window (W interval records' features, oldest first) becomes W
token embeddings -- a per-interval MLP plus a learned position -- followed
by one learned decision token; the backbone (any HF causal LM, fed
``inputs_embeds``) reads them causally and the head maps the decision
token's last hidden state to the (B, TOTAL_LEVELS) logits of the four
knobs.  One forward pass per decision, batched over queues.  The
decoder is called without the LM's vocabulary head: only the hidden state
is needed, and SmolLM2's 49 k-word projection would cost more than a
layer.  Only the encoder, the head and the LoRA adapters train (or the
whole backbone with ``lora = False``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn
from aqmllm.models.backbone import load_backbone, with_lora
from aqmllm.models.rl.levels import TOTAL_LEVELS


@dataclass
class IntervalTeacherSpec:
    state_shape: list[int]  # (window, features)
    backbone: str = "smollm2"
    lora: bool = True
    lora_r: int = 8
    lora_alpha: int = 16
    lora_targets: list[str] = field(default_factory=lambda: ["q_proj", "v_proj"])
    d_enc: int = 128
    ignore: list[int] = field(default_factory=list)  # feature columns not read (student.py)


class IntervalEncoder(nn.Module):
    def __init__(self, window: int, features: int, hidden: int, d_enc: int) -> None:
        super().__init__()
        self.step = nn.Sequential(nn.Linear(features, d_enc), nn.GELU(), nn.Linear(d_enc, hidden))
        self.position = nn.Parameter(torch.zeros(window + 1, hidden))
        self.decision = nn.Parameter(torch.zeros(1, 1, hidden))
        self.norm = nn.LayerNorm(hidden)
        nn.init.normal_(self.position, std=0.02)
        nn.init.normal_(self.decision, std=0.02)

    def forward(self, states: torch.Tensor) -> torch.Tensor:
        tokens = self.step(states)  # (B, W, hidden)
        query = self.decision.expand(len(states), 1, -1)
        return self.norm(torch.cat([tokens, query], dim=1) + self.position)


class IntervalTeacher(nn.Module):
    def __init__(self, spec: IntervalTeacherSpec, backbone: nn.Module | None = None) -> None:
        super().__init__()
        if len(spec.state_shape) != 2 or min(spec.state_shape) < 1:
            raise ValueError(
                f"teacher state_shape: expected (window, features), got {spec.state_shape}"
            )
        self.spec = spec
        base = backbone if backbone is not None else load_backbone(spec.backbone)
        hidden = base.config.hidden_size
        if spec.lora:
            base = with_lora(base, spec.lora_r, spec.lora_alpha, spec.lora_targets)
        self.backbone = base
        window, features = spec.state_shape
        self.encoder = IntervalEncoder(window, features, hidden, spec.d_enc)
        mask = torch.ones(window, features)
        mask[:, list(spec.ignore)] = 0.0
        self.register_buffer("input_mask", mask, persistent=False)
        self.head = nn.Linear(hidden, TOTAL_LEVELS)  # the L4S-LM head
        nn.init.zeros_(self.head.weight)  # start uniform: the advantage weights decide
        nn.init.zeros_(self.head.bias)

    def forward(self, states: torch.Tensor) -> torch.Tensor:
        if tuple(states.shape[1:]) != tuple(self.spec.state_shape):
            raise ValueError(
                f"teacher: states {tuple(states.shape[1:])},"
                f" built for {tuple(self.spec.state_shape)}"
            )
        embeds = self.encoder(states * self.input_mask)
        hidden = self.backbone.get_decoder()(inputs_embeds=embeds).last_hidden_state
        return self.head(hidden[:, -1])

    def n_trainable(self) -> tuple[int, int]:
        train = sum(p.numel() for p in self.parameters() if p.requires_grad)
        return train, sum(p.numel() for p in self.parameters())


# ---- checkpoints: what the daemon's interval tier loads (models/interval_runtime.py) ----


def _saved_names(teacher: IntervalTeacher) -> list[str]:
    """What a checkpoint holds: the trained tensors (encoder, head, LoRA adapters; the whole
    backbone when it was trained too). A frozen backbone is rebuilt from its spec."""
    return [name for name, p in teacher.named_parameters() if p.requires_grad]


def save_interval_teacher(
    folder: str | Path,
    teacher: IntervalTeacher,
    features: str,
    usable: dict[str, list[str]],
    training: dict[str, Any] | None = None,
) -> Path:
    """A sealed interval-teacher checkpoint over the residual levels of models.rl.levels."""
    from aqmllm.models.interval_checkpoint import save_interval_checkpoint
    from aqmllm.models.rl.levels import table

    state = teacher.state_dict()
    tensors = {n: state[n].detach().cpu().float().numpy() for n in _saved_names(teacher)}
    return save_interval_checkpoint(
        folder,
        "interval-teacher",
        tensors,
        features,
        tuple(teacher.spec.state_shape),
        table(),
        usable,
        architecture={"teacher": asdict(teacher.spec)},
        training=training,
    )


def load_interval_teacher(manifest: dict[str, Any], folder: Path) -> Callable[[np.ndarray], Any]:
    """The teacher of a checked manifest as the interval runtime's forward: states (Q, W, F)
    -> logits (Q, TOTAL_LEVELS); ModelError naming what does not fit."""
    from aqmllm.models.checkpoint import ModelError, load_tensors

    arch = manifest.get("architecture", {}).get("teacher")
    if not isinstance(arch, dict):
        raise ModelError(f"{folder}: an interval teacher's manifest lacks architecture.teacher")
    try:
        spec = IntervalTeacherSpec(**arch)
    except TypeError as exc:
        raise ModelError(f"{folder}: architecture.teacher: {exc}") from None
    if list(spec.state_shape) != list(manifest["interval"]["state_shape"]):
        raise ModelError(
            f"{folder}: the teacher was built for states {spec.state_shape}, the manifest"
            f" says {manifest['interval']['state_shape']}"
        )
    levels = manifest["interval"].get("levels", {})
    total = sum(len(v.get("levels", [])) for v in levels.values() if isinstance(v, dict))
    if total != TOTAL_LEVELS:
        raise ModelError(f"{folder}: the head has {TOTAL_LEVELS} levels, the manifest {total}")
    try:
        teacher = IntervalTeacher(spec)
    except (OSError, ValueError) as exc:
        raise ModelError(f"{folder}: cannot build the teacher's backbone: {exc}") from None
    tensors = load_tensors(manifest, folder)
    state = teacher.state_dict()
    want = set(_saved_names(teacher))
    if set(tensors) != want:
        missing, extra = sorted(want - set(tensors)), sorted(set(tensors) - want)
        raise ModelError(
            f"{folder}: teacher tensors do not fit its architecture"
            f" (missing {missing[:3]}, unexpected {extra[:3]})"
        )
    for name, value in tensors.items():
        if tuple(value.shape) != tuple(state[name].shape):
            raise ModelError(
                f"{folder}: tensor {name} is {tuple(value.shape)},"
                f" the architecture wants {tuple(state[name].shape)}"
            )
    teacher.load_state_dict({n: torch.from_numpy(v) for n, v in tensors.items()}, strict=False)
    teacher.eval()

    def forward(states: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(states, dtype=np.float32))
            return teacher(x).float().numpy()

    forward.teacher = teacher  # type: ignore[attr-defined]
    return forward
