"""`aqmllm train`: offline RL training of the LLM teacher from experience pools."""

from __future__ import annotations

import argparse
import json
import sys

from aqmllm.models.checkpoint import ModelError

from aqmllm.console import add_version, count, output_dir, positive_float, positive_int


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="aqmllm train", description=__doc__)
    ap.add_argument("--pool", action="append", required=True, help="experience pool (.npz)")
    ap.add_argument("--out", required=True, help="output folder (best/ holds the checkpoint)")
    ap.add_argument(
        "--backbone",
        default="smollm2",
        help="smollm2 (default), tiny[:hidden=..,layers=..], a .gguf file or a folder",
    )
    ap.add_argument("--epochs", type=positive_int, default=3)
    ap.add_argument("--batch-size", type=positive_int, default=64)
    ap.add_argument("--lr", type=positive_float, default=3e-4)
    ap.add_argument("--lora-r", type=positive_int, default=8)
    ap.add_argument("--lora-targets", default="q_proj,v_proj")
    ap.add_argument("--full-finetune", action="store_true", help="train the backbone too (no LoRA)")
    ap.add_argument("--max-steps-per-epoch", type=count, default=0)
    ap.add_argument("--max-val-steps", type=positive_int, default=4096)
    ap.add_argument("--device", default="auto", help="auto, cpu or cuda")
    ap.add_argument("--resume", action="store_true", help="continue from OUT/train_state.pt")
    ap.add_argument("--validate", action="store_true", help="only check and summarise the pools")
    ap.add_argument("--seed", type=int, default=0)
    add_version(ap)
    args = ap.parse_args(argv)
    try:
        if args.validate:
            from aqmllm.models.pool import validate_pool

            for p in args.pool:
                print(json.dumps({p: validate_pool(p)}, indent=2))
            return 0
        from aqmllm.models.teacher import TeacherSpec
        from aqmllm.models.train import TrainConfig, train_teacher

        spec = TeacherSpec(
            backbone=args.backbone,
            lora_r=args.lora_r,
            lora_targets=args.lora_targets.split(","),
            lora=not args.full_finetune,
        )
        if args.lora_r < 1:
            ap.error("--lora-r must be at least 1")
        cfg = TrainConfig(
            epochs=args.epochs,
            batch_size=args.batch_size,
            lr=args.lr,
            max_steps_per_epoch=args.max_steps_per_epoch,
            max_val_steps=args.max_val_steps,
            seed=args.seed,
            device=args.device,
        )
        output_dir(args.out)
        result = train_teacher(args.pool, spec, cfg, args.out, resume=args.resume)
    except ModelError as exc:
        print(f"aqmllm train: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result, indent=2))
    return 0
