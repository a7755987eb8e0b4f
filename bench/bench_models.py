"""Model benchmarks: LoRA against full fine-tuning on SmolLM2-135M, teacher
latency, student throughput on one core, and the interval teacher's decisions
per 16 ms interval on the CPU.  Prints `name: value` lines.

The interval teacher is issue 16's IntervalTeacher (window tokens + a
decision token through SmolLM2 with LoRA, an L4S-LM head over the residual
levels) when this build has it; else a stand-in of the same shape (a
two-layer encoder per record, SmolLM2's decoder, a linear head over 27
levels), which the report names: the backbone is nearly all of the cost.

Memory is the training-attributable resident set: each variant runs in its
own process; the figure is the largest RSS sampled after backward() and
after the optimizer step, minus RSS once the model is loaded (gradients,
optimizer state and activations; the loader's own transient peak excluded).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

ONE_CORE = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _states(n: int):
    import numpy as np
    from aqmllm.models.features import QueueHistory, scalar_features, valid_action_mask
    from aqmllm.models.synthetic import simulate

    ep = simulate([("reno", 20), ("scalable", 20), ("reno-ecn", 40)], duration_s=2.0)
    recs = np.resize(ep.records, n)
    return recs, scalar_features(recs), QueueHistory().lookup(recs), valid_action_mask(recs)


def train_variant(lora: bool, batch: int, steps: int) -> dict:
    import numpy as np
    import psutil
    import torch
    from aqmllm.models.teacher import Teacher, TeacherSpec, batch_tensors

    torch.manual_seed(0)
    recs, scalars, series, mask = _states(batch)
    model = Teacher(TeacherSpec(backbone="smollm2", lora=lora))
    rss0 = psutil.Process().memory_info().rss
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    x = batch_tensors(scalars, series, np.zeros(batch, np.float32), mask)
    target = torch.as_tensor(recs["ecn"] % 2, dtype=torch.long)
    times, peak = [], rss0
    proc = psutil.Process()
    for _ in range(steps):
        t0 = time.perf_counter()
        loss = torch.nn.functional.cross_entropy(model(*x), target)
        opt.zero_grad()
        loss.backward()
        after_backward = proc.memory_info().rss  # gradients live here
        opt.step()
        times.append(time.perf_counter() - t0)
        peak = max(peak, after_backward, proc.memory_info().rss)  # + optimizer state
    trainable, total = model.n_trainable()
    return {
        "peak_train_bytes": peak - rss0,
        "step_s": float(np.median(times[1:])),
        "trainable": trainable,
        "total": total,
    }


def teacher_latency() -> dict:
    import numpy as np
    import torch
    from aqmllm.models.teacher import Teacher, TeacherSpec, batch_tensors

    t0 = time.perf_counter()
    model = Teacher(TeacherSpec(backbone="smollm2")).eval()
    load_s = time.perf_counter() - t0
    out = {"teacher_load_s": load_s}
    for b in (1, 64):
        recs, scalars, series, mask = _states(b)
        x = batch_tensors(scalars, series, np.zeros(b, np.float32), mask)
        with torch.no_grad():
            model(*x)
            times = []
            for _ in range(10 if b > 1 else 20):
                t = time.perf_counter()
                model(*x)
                times.append(time.perf_counter() - t)
        out[f"b{b}_ms"] = float(np.median(times)) * 1000
    return out


def student_speed() -> dict:

    from pathlib import Path

    from aqmllm.models.runtime import StudentPolicy, load_policy
    from aqmllm.models.student import StudentWeights, forward_logits, student_inputs

    shipped = Path(__file__).resolve().parents[1] / "models" / "shipped" / "student"
    pol = (
        load_policy(shipped)
        if (shipped / "manifest.json").exists()
        else StudentPolicy(StudentWeights.random())
    )
    w = pol.weights
    recs, *_ = _states(8192)
    x, _ = student_inputs(recs, pol.history)
    forward_logits(w, x)
    reps = 50
    t = time.perf_counter()
    for _ in range(reps):
        forward_logits(w, x)
    fwd = time.perf_counter() - t
    t = time.perf_counter()
    for _ in range(reps):
        pol.decide(recs)
    full = time.perf_counter() - t
    return {
        "forward_per_s": reps * len(recs) / fwd,
        "decide_per_s": reps * len(recs) / full,
        "params": w.n_params(),
    }


INTERVAL_QUEUES = (1, 4, 16, 64)
INTERVAL_WINDOW, INTERVAL_FEATURES, INTERVAL_LEVELS = 16, 16, 27


def interval_teacher_model():
    """(model, which): issue 16's IntervalTeacher, or the stand-in of its shape."""
    import torch
    from aqmllm.models.backbone import load_backbone

    shape = [INTERVAL_WINDOW, INTERVAL_FEATURES]
    try:
        from aqmllm.models.rl.teacher import IntervalTeacher, IntervalTeacherSpec
    except ImportError:
        pass
    else:
        return IntervalTeacher(IntervalTeacherSpec(state_shape=shape)).eval(), "issue16"

    class StandIn(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.backbone = load_backbone("smollm2")
            hidden = self.backbone.config.hidden_size
            nn = torch.nn
            self.step = nn.Sequential(
                nn.Linear(INTERVAL_FEATURES, 128), nn.GELU(), nn.Linear(128, hidden)
            )
            self.decision = torch.nn.Parameter(torch.zeros(1, 1, hidden))
            self.position = torch.nn.Parameter(torch.zeros(INTERVAL_WINDOW + 1, hidden))
            self.head = torch.nn.Linear(hidden, INTERVAL_LEVELS)

        def forward(self, states: torch.Tensor) -> torch.Tensor:
            tokens = torch.cat([self.step(states), self.decision.expand(len(states), 1, -1)], 1)
            out = self.backbone.get_decoder()(inputs_embeds=tokens + self.position)
            return self.head(out.last_hidden_state[:, -1])

    return StandIn().eval(), "stand-in"


def interval_teacher_speed() -> dict:
    import numpy as np
    import torch

    t0 = time.perf_counter()
    model, which = interval_teacher_model()
    out: dict = {"load_s": time.perf_counter() - t0, "which": which}
    out["threads"] = torch.get_num_threads()
    with torch.no_grad():
        for q in INTERVAL_QUEUES:
            x = torch.randn(q, INTERVAL_WINDOW, INTERVAL_FEATURES)
            model(x)
            times = []
            for _ in range(8 if q < 64 else 3):
                t = time.perf_counter()
                model(x)
                times.append(time.perf_counter() - t)
            out[f"q{q}_ms"] = float(np.median(times)) * 1000
    return out


def child(what: str, arg: str) -> None:
    if what == "train":
        lora, batch, steps = arg.split(",")
        print(json.dumps(train_variant(lora == "1", int(batch), int(steps))))
    elif what == "teacher":
        print(json.dumps(teacher_latency()))
    elif what == "interval-teacher":
        print(json.dumps(interval_teacher_speed()))
    else:
        print(json.dumps(student_speed()))


def run_child(what: str, arg: str = "", env_extra: dict | None = None) -> dict:
    env = dict(os.environ, **(env_extra or {}))
    res = subprocess.run(
        [sys.executable, __file__, "--child", what, arg],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if res.returncode != 0:
        raise SystemExit(f"{what} benchmark failed:\n{res.stderr[-3000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--interval-only", action="store_true", help="only the interval teacher")
    args = ap.parse_args()
    if args.child:
        child(*args.child)
        return 0
    # torch's own thread count, and one thread (on a shared host the faster one)
    runs = [run_child("interval-teacher"), run_child("interval-teacher", env_extra=ONE_CORE)]
    print(f"interval_teacher: {runs[0]['which']} (window {INTERVAL_WINDOW} x"
          f" {INTERVAL_FEATURES}, SmolLM2-135M, CPU)")  # fmt: skip
    fits, best = 0, 0.0
    for it in runs:
        for q in INTERVAL_QUEUES:
            ms = it[f"q{q}_ms"]
            print(f"interval_teacher_ms_q{q}_threads{it['threads']}: {ms:.1f}")
            if ms <= 16.0:
                fits = max(fits, q)
            best = max(best, q * 16.0 / ms)
    print(f"interval_teacher_queues_within_16ms: {fits}")
    print(f"interval_teacher_decisions_per_16ms: {best:.2f}")
    if args.interval_only:
        return 0
    s = run_child("student", env_extra=ONE_CORE)
    print(f"student_parameters: {s['params']}")
    print(f"student_decisions_per_s: {s['forward_per_s']:.0f}")
    print(f"student_decide_with_features_per_s: {s['decide_per_s']:.0f}")
    t = run_child("teacher")
    print(f"teacher_load_s: {t['teacher_load_s']:.1f}")
    print(f"teacher_latency_ms_b1: {t['b1_ms']:.1f}")
    print(f"teacher_latency_ms_b64: {t['b64_ms']:.1f}")
    print(f"teacher_latency_ms_per_decision_b64: {t['b64_ms'] / 64:.2f}")
    lora = run_child("train", f"1,{args.batch},{args.steps}")
    full = run_child("train", f"0,{args.batch},{args.steps}")
    print(f"lora_trainable_fraction: {lora['trainable'] / lora['total']:.4f}")
    print(f"lora_peak_train_mem_mb: {lora['peak_train_bytes'] / 2**20:.0f}")
    print(f"full_peak_train_mem_mb: {full['peak_train_bytes'] / 2**20:.0f}")
    print(f"lora_peak_mem_ratio: {lora['peak_train_bytes'] / full['peak_train_bytes']:.3f}")
    print(f"lora_step_s: {lora['step_s']:.3f}")
    print(f"full_step_s: {full['step_s']:.3f}")
    print(f"lora_step_time_ratio: {lora['step_s'] / full['step_s']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
