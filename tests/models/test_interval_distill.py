"""Distilling a teacher's factored, masked distribution into the interval student."""

from __future__ import annotations

import numpy as np
import torch
from aqmllm.models.rl import levels
from aqmllm.models.rl.distill import distill, kl_loss, teacher_log_probs
from aqmllm.models.rl.heads import greedy
from aqmllm.models.rl.records import FB_CODEL, FB_DUALPI2, FB_PIE
from aqmllm.models.rl.student import IntervalStudent


def test_student_learns_the_teachers_distribution() -> None:
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny networks: one thread beats two fighting other processes
    try:
        _check()
    finally:
        torch.set_num_threads(before)


def _check() -> None:
    torch.manual_seed(0)
    shape = (4, 3)
    teacher = IntervalStudent(shape, (16,))
    with torch.no_grad():
        for p in teacher.parameters():
            p.mul_(3.0)  # a confident teacher
    rng = np.random.default_rng(0)
    states = rng.normal(size=(3000, *shape)).astype(np.float32)
    valid = levels.valid_mask(rng.choice([FB_DUALPI2, FB_PIE, FB_CODEL], 3000))
    target = teacher_log_probs(teacher, states, valid)
    # masked levels have no mass in the teacher's targets
    assert np.all(np.exp(target)[~valid] < 1e-6)
    student = IntervalStudent(shape, (32, 32))
    losses = distill(student, states, valid, target, steps=800, lr=3e-3)
    assert losses[-1] < 0.25 * losses[0]
    s = torch.as_tensor(states[:500])
    v = torch.as_tensor(valid[:500])
    with torch.no_grad():
        agree = (greedy(student(s), v) == greedy(teacher(s), v)).float().mean()
        same = kl_loss(teacher(s), torch.as_tensor(target[:500]), v)
    assert agree > 0.85
    assert abs(float(same)) < 1e-4  # the teacher against itself: zero
