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

from dataclasses import dataclass, field

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
        self.head = nn.Linear(hidden, TOTAL_LEVELS)  # the L4S-LM head
        nn.init.zeros_(self.head.weight)  # start uniform: the advantage weights decide
        nn.init.zeros_(self.head.bias)

    def forward(self, states: torch.Tensor) -> torch.Tensor:
        if tuple(states.shape[1:]) != tuple(self.spec.state_shape):
            raise ValueError(
                f"teacher: states {tuple(states.shape[1:])},"
                f" built for {tuple(self.spec.state_shape)}"
            )
        embeds = self.encoder(states)
        hidden = self.backbone.get_decoder()(inputs_embeds=embeds).last_hidden_state
        return self.head(hidden[:, -1])

    def n_trainable(self) -> tuple[int, int]:
        train = sum(p.numel() for p in self.parameters() if p.requires_grad)
        return train, sum(p.numel() for p in self.parameters())
