"""IQL over factored residual actions: the critic learns, the policy finds the better action."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch
from aqmllm.models.checkpoint import ModelError
from aqmllm.models.rl import levels
from aqmllm.models.rl.critic import Critic
from aqmllm.models.rl.heads import greedy, masked_log_probs, sample
from aqmllm.models.rl.iql import IQL, IQLConfig, q_loss, value_loss
from aqmllm.models.rl.pool import load_interval_pool, write_interval_pool
from aqmllm.models.rl.records import FB_CODEL, FB_DUALPI2, FB_PIE
from aqmllm.models.rl.student import IntervalStudent, numpy_logits
from aqmllm.models.rl.teacher import IntervalTeacher, IntervalTeacherSpec
from aqmllm.models.rl.trainer import IQLTrainer, TrainPlan, make_batch
from rl_helpers import FEATURES, GOOD_HIGH, GOOD_LOW, SCHEMA, WINDOW, toy_episodes

TINY = "tiny:hidden=32,layers=2,heads=4"


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny networks: one thread is faster than two fighting other processes."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def toy_pool(tmp_path_factory: pytest.TempPathFactory):
    path = tmp_path_factory.mktemp("iql") / "toy.npz"
    return load_interval_pool(write_interval_pool(path, toy_episodes(8, 500), SCHEMA))


def test_critic_loss_decreases_on_a_tiny_pool(toy_pool) -> None:
    torch.manual_seed(0)
    iql = IQL(Critic(toy_pool.state_shape, (64, 64)), None, IQLConfig(batch_size=128))
    fixed = make_batch(toy_pool, np.arange(256), "cpu", 1.0)

    def loss() -> float:
        with torch.no_grad():
            return float(
                q_loss(iql.critic, fixed, iql.cfg)
                + value_loss(iql.critic, iql.target, fixed, iql.cfg)
            )

    first = loss()
    rng = np.random.default_rng(0)
    for _ in range(200):
        iql.critic_step(make_batch(toy_pool, rng.integers(0, len(toy_pool), 128), "cpu", 1.0))
    assert loss() < 0.5 * first


def _accuracy(policy: torch.nn.Module, n: int = 512) -> tuple[float, float]:
    """On fresh states: how often the greedy target level is the better one, and its mean
    probability."""
    states = torch.as_tensor(
        np.random.default_rng(99).normal(size=(n, WINDOW, FEATURES)), dtype=torch.float32
    )
    valid = torch.as_tensor(levels.valid_mask(np.full(n, FB_DUALPI2)))
    with torch.no_grad():
        logits = policy(states)
    chosen = greedy(logits, valid)[:, levels.TARGET].numpy()
    probs = masked_log_probs(logits, valid)[levels.TARGET].exp().numpy()
    best = np.where(states[:, -1, 0].numpy() < 0, GOOD_LOW, GOOD_HIGH)
    return float((chosen == best).mean()), float(probs[np.arange(n), best].mean())


@pytest.fixture(scope="module")
def trained_critic(toy_pool) -> Critic:
    """A critic fitted on the toy pool once, shared by the policy-extraction tests."""
    torch.manual_seed(0)
    trainer = IQLTrainer(
        toy_pool,
        IntervalStudent(toy_pool.state_shape, (8,)),
        IQLConfig(batch_size=128, critic_lr=1e-3),
        TrainPlan(critic_steps=300, policy_steps=0, eval_every=300),
        critic=Critic(toy_pool.state_shape, (64, 64)),
        log=None,
    )
    trainer.run()
    return trainer.iql.critic


def _extract(pool, policy, critic, beta: float, steps: int, batch: int) -> dict:
    cfg = IQLConfig(batch_size=batch, beta=beta, policy_lr=1e-3)
    plan = TrainPlan(critic_steps=0, policy_steps=steps, eval_every=steps)
    return IQLTrainer(pool, policy, cfg, plan, critic=copy.deepcopy(critic), log=None).run()


def test_advantage_weighting_prefers_the_better_action(toy_pool, trained_critic) -> None:
    torch.manual_seed(0)
    student = IntervalStudent(toy_pool.state_shape, (32, 32))
    result = _extract(toy_pool, student, trained_critic, 5.0, 400, 128)
    # the behaviour took the better level 1 time in 7; the extracted policy, almost always
    accuracy, p_best = _accuracy(student)
    assert accuracy > 0.8 and p_best > 0.5
    last = result["history"][-1]
    assert last["phase"] == "policy" and last["val_greedy_advantage"] > 0
    # a plain (unweighted) clone of the same data spreads its mass over all levels
    torch.manual_seed(0)
    clone = IntervalStudent(toy_pool.state_shape, (32, 32))
    _extract(toy_pool, clone, trained_critic, 0.0, 200, 128)
    assert _accuracy(clone)[1] < 0.25


def test_tiny_teacher_trains_with_the_same_loss(toy_pool, trained_critic) -> None:
    torch.manual_seed(0)
    teacher = IntervalTeacher(IntervalTeacherSpec([WINDOW, FEATURES], backbone=TINY, d_enc=32))
    train, total = teacher.n_trainable()
    assert 0 < train < total
    _extract(toy_pool, teacher, trained_critic, 5.0, 300, 64)
    assert _accuracy(teacher)[0] > 0.7


def test_shapes_and_masks() -> None:
    fb = np.array([FB_DUALPI2, FB_PIE, FB_CODEL, FB_PIE])
    valid = torch.as_tensor(levels.valid_mask(fb))
    logits = torch.randn(4, levels.TOTAL_LEVELS) * 5
    logits[:, levels.OFFSETS[levels.STEP] + 3] = 100.0  # a huge logit on a masked level
    per = masked_log_probs(logits, valid)
    assert [p.shape[1] for p in per] == list(levels.N_LEVELS)
    for p in per:
        assert torch.allclose(p.exp().sum(dim=1), torch.ones(4))
    a = greedy(logits, valid)
    assert a[0, levels.STEP] == 3 and (a[1:, levels.STEP] == 0).all()
    assert (a[2, levels.MULT_C] == 0) and (a[2, levels.MULT_L] == 0)  # CoDel: target only
    g = torch.Generator().manual_seed(0)
    draws = torch.cat([sample(logits, valid, g) for _ in range(50)])
    codel = draws[2::4]
    assert (codel[:, 1:] == 0).all()
    with pytest.raises(ValueError, match="expected \\(B, 27\\)"):
        masked_log_probs(torch.zeros(2, 5), None)
    teacher = IntervalTeacher(IntervalTeacherSpec([WINDOW, FEATURES], backbone=TINY, d_enc=16))
    assert teacher(torch.zeros(3, WINDOW, FEATURES)).shape == (3, levels.TOTAL_LEVELS)
    with pytest.raises(ValueError, match="built for"):
        teacher(torch.zeros(3, WINDOW + 1, FEATURES))
    with pytest.raises(ValueError, match="built for"):
        Critic((WINDOW, FEATURES)).value(torch.zeros(2, 3))
    student = IntervalStudent((WINDOW, FEATURES))
    x = torch.randn(5, WINDOW, FEATURES)
    np.testing.assert_allclose(
        numpy_logits(student.numpy_tensors(), x.numpy()),
        student(x).detach().numpy(),
        rtol=1e-5,
        atol=1e-5,
    )


def test_resume_continues_exactly(toy_pool, tmp_path: Path) -> None:
    def run(steps: int, out: Path, resume: bool) -> IntervalStudent:
        torch.manual_seed(0)
        student = IntervalStudent(toy_pool.state_shape, (16,))
        torch.manual_seed(1)
        t = IQLTrainer(
            toy_pool,
            student,
            IQLConfig(batch_size=32),
            TrainPlan(critic_steps=20, policy_steps=steps, eval_every=10, checkpoint_every=10),
            out=out,
            log=None,
        )
        if resume:
            assert t.resume() and t.phase == "policy" and t.step == 20
        t.run()
        return student

    run(20, tmp_path / "a", False)
    resumed = run(30, tmp_path / "a", True)
    straight = run(30, tmp_path / "b", False)
    for p, q in zip(resumed.parameters(), straight.parameters(), strict=True):
        torch.testing.assert_close(p, q)
    (tmp_path / "a" / "iql_state.pt").write_bytes(b"garbage")
    t = IQLTrainer(
        toy_pool, IntervalStudent(toy_pool.state_shape, (16,)), out=tmp_path / "a", log=None
    )
    with pytest.raises(ModelError, match="cannot resume"):
        t.resume()
