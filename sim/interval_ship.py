"""After the closed loop: the LLM teachers, the ablation's validation, and what ships.

    python -m aqmllm.sim.interval_ship --loop OUT --ship models/shipped/interval
        [--teacher-steps 800] [--backbones smollm2 smollm2-random]
        [--finetune-min 42] [--extra NAME=PATH ...]

Issue 16, items 4, 6, 7 and 9, on generated scenarios only.  From the
loop's selected iteration (OUT/iterations.json: the best validation score)
it takes the pools and the critic its student was extracted with, and:

- extracts a student that does not read the residual in effect
  (``no-prev``: models/rl/train_interval.py --ignore-features; the loop's
  students read it, and with persistent behaviours in the pools they learnt
  to repeat whatever residual is in effect -- from DualPI2's zero, zero);
- trains one teacher per backbone on the same pools and critic, blind to
  the same columns (models/rl/train_teacher.py: IQL policy extraction, then
  distillation into the student) -- ``smollm2`` is the pretrained
  SmolLM2-135M + LoRA, ``smollm2-random`` the same architecture with random
  weights; ``no-prev`` is the no-teacher row;
- fine-tunes the ``no-prev`` student's last-layer biases by CMA-ES in
  closed loop on the loop's training scenarios (sim/cma_interval.py
  --start; ``--finetune-min 0`` skips it).

Every candidate (those, the loop's own student, and any ``--extra``) is
scored on the loop's generated validation set (sim/interval_validate.py,
its runs cached in OUT/validation).  The pick is the best mean validation score, ties going
to fewer regressions, then to the earlier candidate -- the rule the loop
itself selects by.  The picked student (and its teacher, when it has one)
is copied to SHIP with SHIP/selection.json: every candidate's row, the
rule, and the digests.  No held-out suite is read at any step.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

SHIPPED_NAMES = {"student", "teacher", "selection.json"}
LOOP_STUDENT = "loop"
NO_PREV = "no-prev"
FINETUNED = "no-prev+cma"


def selected_iteration(loop: Path) -> dict[str, Any]:
    from aqmllm.sim.interval_iterate import best_iteration

    rows = json.loads((loop / "iterations.json").read_text())
    if not rows:
        raise ValueError(f"{loop}/iterations.json: no iteration")
    return best_iteration(rows)


def critic_of(student: Path) -> Path:
    """Where train_interval left the trainer state of a student checkpoint (DIR/checkpoint)."""
    return student.parent / "iql" / "iql_state.pt"


def seed_of(student: Path) -> int:
    return int(json.loads((student / "manifest.json").read_text())["training"]["plan"]["seed"])


def no_prev_student(row: dict[str, Any], out: Path) -> Path:
    """The loop's IQL over the same pools and critic, blind to the residual in effect."""
    from aqmllm.models.interval_features import RESIDUAL_IN_EFFECT
    from aqmllm.models.rl.train_interval import main as student_main

    student = Path(row["student"])
    if not (out / "checkpoint" / "manifest.json").exists():
        argv = ["--pool", *row["pools"], "--out", str(out), "--seed", str(seed_of(student)),
                "--critic-from", str(critic_of(student)), "--name", "interval-iql-noprev",
                "--ignore-features", *RESIDUAL_IN_EFFECT]  # fmt: skip
        if student_main(argv) != 0:
            raise RuntimeError("the no-prev student failed")
    return out / "checkpoint"


def train_teachers(row: dict[str, Any], backbones: list[str], steps: int, out: Path):
    """One teacher (and its distilled student) per backbone; finished ones are kept."""
    from aqmllm.models.interval_features import RESIDUAL_IN_EFFECT
    from aqmllm.models.rl.train_teacher import main as teacher_main

    student = Path(row["student"])
    made: dict[str, Path] = {}
    for b in backbones:
        folder = out / b.replace(":", "-").replace("=", "")
        if not (folder / "student" / "manifest.json").exists():
            t0 = time.time()
            argv = ["--pool", *row["pools"], "--out", str(folder), "--backbone", b,
                    "--critic-from", str(critic_of(student)), "--seed", str(seed_of(student)),
                    "--policy-steps", str(steps), "--name", f"interval-teacher-{b}",
                    "--ignore-features", *RESIDUAL_IN_EFFECT]  # fmt: skip
            if teacher_main(argv) != 0:
                raise RuntimeError(f"the {b} teacher failed")
            print(f"teacher {b}: {time.time() - t0:.0f} s", flush=True)
        made[b] = folder / "student"
    return made


def fine_tune(loop: Path, start: Path, minutes: float, workers: int, out: Path) -> Path:
    """CMA-ES over the start's last-layer biases, scored in ns-3 on the loop's training
    scenarios; its final pick (search mean or best, on validation) is out/final."""
    from aqmllm.sim.cma_interval import main as cma_main

    if not (out / "final" / "manifest.json").exists():
        train = sorted(str(p) for p in loop.glob("it*/train/*") if p.is_dir())
        valid = sorted(str(p) for p in (loop / "valid").iterdir() if p.is_dir())
        argv = ["--train", *train, "--valid", *valid, "--out", str(out), "--start", str(start),
                "--params", "net.4.bias", "--sigma", "1.0", "--popsize", "8", "--batch", "6",
                "--generations", "12", "--budget-min", str(minutes), "--workers", str(workers),
                "--seed", "61", "--name", "cma-finetune-noprev", "--resume"]  # fmt: skip
        if cma_main(argv) != 0:
            raise RuntimeError("the CMA-ES fine-tuning failed")
    return out / "final"


def pick(table: dict[str, Any], names: list[str]) -> str:
    """Best score; ties: fewer regressions, then the earlier name."""
    return min(
        names,
        key=lambda n: (-round(table[n]["score"], 6), table[n]["regressions"], names.index(n)),
    )


def ship(choice: Path, ship_dir: Path, selection: dict[str, Any]) -> None:
    from aqmllm.models.checkpoint import sha256_hex

    if ship_dir.exists():
        foreign = sorted(p.name for p in ship_dir.iterdir() if p.name not in SHIPPED_NAMES)
        if foreign:  # e.g. --ship models/shipped: never delete what this did not write
            raise ValueError(
                f"{ship_dir} holds {', '.join(foreign[:3])}, which a previous ship did not"
                " write; give an empty or earlier --ship folder"
            )
        shutil.rmtree(ship_dir)
    ship_dir.mkdir(parents=True)
    shutil.copytree(choice, ship_dir / "student")
    manifest = json.loads((choice / "manifest.json").read_text())
    teacher = manifest.get("training", {}).get("teacher")
    if teacher:
        shutil.copytree(Path(teacher["path"]), ship_dir / "teacher")
    selection["shipped"] = {
        "student_sha256": sha256_hex((ship_dir / "student" / "weights.safetensors").read_bytes()),
        "teacher_sha256": sha256_hex((ship_dir / "teacher" / "weights.safetensors").read_bytes())
        if teacher
        else None,
    }
    (ship_dir / "selection.json").write_text(json.dumps(selection, indent=1) + "\n")


def parse_args(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="interval_ship", description=__doc__.splitlines()[0])
    ap.add_argument("--loop", required=True, help="the closed loop's OUT (make train-all)")
    ap.add_argument("--ship", required=True, help="where the pick goes")
    ap.add_argument("--teachers-out", help="default: LOOP/teachers")
    ap.add_argument("--backbones", nargs="*", default=["smollm2", "smollm2-random"])
    ap.add_argument("--teacher-steps", type=int, default=800)
    ap.add_argument("--finetune-min", type=float, default=42.0, help="0: no CMA-ES fine-tuning")
    ap.add_argument("--extra", action="append", default=[], metavar="NAME=PATH",
                    help="another interval checkpoint to validate beside them")  # fmt: skip
    ap.add_argument("--workers", type=int, default=2)
    return ap.parse_args(argv)


def run(a: argparse.Namespace) -> dict[str, Any]:
    from aqmllm.sim.interval_validate import main as val_main

    loop = Path(a.loop)
    row = selected_iteration(loop)
    no_prev = no_prev_student(row, loop / "no-prev")
    teachers = train_teachers(
        row, a.backbones, a.teacher_steps, Path(a.teachers_out or loop / "teachers")
    )
    candidates: dict[str, Path] = {LOOP_STUDENT: Path(row["student"]), NO_PREV: no_prev}
    candidates.update(teachers)
    if a.finetune_min > 0:
        candidates[FINETUNED] = fine_tune(
            loop, no_prev, a.finetune_min, a.workers, loop / "cma-finetune"
        )
    for item in a.extra:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise ValueError(f"--extra {item!r}: expected NAME=PATH")
        candidates[name] = Path(path)
    aqms = {n: f"interval:model:{p}" for n, p in candidates.items()}
    argv = ["--valid", *sorted(str(p) for p in (loop / "valid").iterdir() if p.is_dir())]
    argv += ["--out", str(loop / "validation"), "--workers", str(a.workers)]
    argv += [x for aqm in aqms.values() for x in ("--aqm", aqm)]
    if val_main(argv) != 0:
        raise RuntimeError("validation failed")
    full = json.loads((loop / "validation" / "validation.json").read_text())
    table = {n: full[aqm] for n, aqm in aqms.items()}
    chosen = pick(table, list(candidates))
    selection = {
        "rule": "best mean validation score (clipped episode score against DualPI2);"
        " ties: fewer regressions, then the earlier candidate",
        "validation": {"pairs": full["_meta"]["pairs"], "folders": argv[1 : argv.index("--out")]},
        "best_static_on_validation": full["_meta"]["best_static"],
        "statics": {k: v for k, v in full.items() if k.startswith("dualpi2@")},
        "candidates": {n: {"path": str(p), **table[n]} for n, p in candidates.items()},
        "picked": chosen,
        "loop_iteration": row["iteration"],
    }
    ship(candidates[chosen], Path(a.ship), selection)
    print(f"shipped {chosen} ({candidates[chosen]}) -> {a.ship}", flush=True)
    return selection


def main(argv: list[str] | None = None) -> int:
    a = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        run(a)
    except (ValueError, OSError, KeyError, RuntimeError) as exc:
        print(f"interval_ship: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
