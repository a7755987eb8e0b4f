"""Features, the numpy student, checkpoints and what loading refuses."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from aqmllm.bridge import layout
from aqmllm.models.checkpoint import ModelError, save_checkpoint
from aqmllm.models.features import (
    SCALAR_NAMES,
    SERIES_LEN,
    QueueHistory,
    scalar_features,
    valid_action_mask,
)
from aqmllm.models.runtime import StudentPolicy, load_policy
from aqmllm.models.student import INPUT_DIM, StudentWeights, student_inputs


def _records(n: int, ecn: int = layout.ECN_ECT1, queue: int = 0) -> np.ndarray:
    r = np.zeros(n, dtype=layout.RECORD_DTYPE)
    r["seq"] = np.arange(1, n + 1)
    r["ecn"] = ecn
    r["cls"] = ecn in (layout.ECN_ECT1, layout.ECN_CE)
    r["queue_id"] = queue
    r["sojourn_ns"] = 2_000_000
    r["qlen_pkts"] = 10
    r["pkt_len"] = 1500
    return r


def test_scalar_features_encode_the_record() -> None:
    r = np.concatenate([_records(1, layout.ECN_ECT1), _records(1, layout.ECN_NOT_ECT)])
    f = scalar_features(r)
    assert f.shape == (2, len(SCALAR_NAMES)) and f.dtype == np.float32
    col = {n: i for i, n in enumerate(SCALAR_NAMES)}
    assert f[0, col["is_l4s"]] == 1 and f[1, col["is_l4s"]] == 0
    assert f[0, col["ecn_ect1"]] == 1 and f[1, col["ecn_not_ect"]] == 1
    # 2 ms is twice the L target but well below the C target.
    assert f[0, col["sojourn_over_target"]] > f[1, col["sojourn_over_target"]]


def test_history_keeps_a_series_per_queue() -> None:
    h = QueueHistory(nqueues=2)
    a, b = _records(4, queue=0), _records(4, queue=5)
    h.update(a, scalar_features(a))
    h.update(b, scalar_features(b))
    assert h.nqueues >= 6  # grew for queue 5
    s0, s5 = h.lookup(a[:1])[0], h.lookup(b[:1])[0]
    assert s0.shape == (3, SERIES_LEN)
    assert s0[0, -1] > 0 and s5[0, -1] > 0 and s0[0, -2] == 0
    assert h.lookup(_records(1, queue=1))[0].sum() == 0  # untouched queue


def test_mark_is_never_chosen_for_not_ect() -> None:
    w = StudentWeights.random(seed=3)
    w.layers[-1][1][:] = [-5.0, -5.0, 10.0]  # a student that loves marking
    pol = StudentPolicy(w)
    acts = pol.decide(np.concatenate([_records(500, layout.ECN_NOT_ECT), _records(500)]))
    assert layout.ACT_MARK not in acts[:500]
    assert (acts[500:] == layout.ACT_MARK).mean() > 0.99
    assert not valid_action_mask(_records(1, layout.ECN_NOT_ECT))[0, 2]


def test_decisions_are_reproducible_under_a_seed() -> None:
    w = StudentWeights.random(seed=1)
    recs = _records(200)
    a = StudentPolicy(w, seed=9).decide(recs)
    b = StudentPolicy(w, seed=9).decide(recs)
    assert (a == b).all()


def test_student_is_small_and_shapes_chain() -> None:
    w = StudentWeights.random()
    assert w.n_params() < 50_000
    x, _ = student_inputs(_records(7), QueueHistory())
    assert x.shape == (7, INPUT_DIM)


def test_checkpoint_round_trip(tmp_path: Path) -> None:
    w = StudentWeights.random(seed=2)
    save_checkpoint(tmp_path / "s", "student", w.tensors(), {"student": {"hidden": [32, 32]}})
    pol = load_policy(tmp_path / "s")
    recs = _records(50)
    ref = StudentPolicy(w)
    assert np.allclose(pol.probabilities(recs), ref.probabilities(recs))


def _saved(tmp_path: Path) -> Path:
    w = StudentWeights.random(seed=2)
    save_checkpoint(tmp_path / "s", "student", w.tensors(), {"student": {}})
    return tmp_path / "s"


def _edit_manifest(folder: Path, **changes: object) -> None:
    m = json.loads((folder / "manifest.json").read_text())
    for key, value in changes.items():
        if "." in key:
            a, b = key.split(".")
            m[a][b] = value
        else:
            m[key] = value
    (folder / "manifest.json").write_text(json.dumps(m))


def test_schema_mismatch_is_refused(tmp_path: Path) -> None:
    folder = _saved(tmp_path)
    _edit_manifest(folder, schema_id="0123456789abcdef", **{"schema.version": 0})
    with pytest.raises(ModelError, match="feature schema 0123456789abcdef"):
        load_policy(folder)


def test_abi_mismatch_is_refused(tmp_path: Path) -> None:
    folder = _saved(tmp_path)
    _edit_manifest(folder, **{"schema.abi_version": 7})
    with pytest.raises(ModelError, match="ring ABI 7"):
        load_policy(folder)


def test_corrupt_and_missing_files(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="no model manifest"):
        load_policy(tmp_path / "nothing")
    folder = _saved(tmp_path)
    (folder / "weights.safetensors").write_bytes(b"garbage")
    with pytest.raises(ModelError, match="truncated or replaced"):
        load_policy(folder)
    (folder / "manifest.json").write_text("{")
    with pytest.raises(ModelError, match="not valid JSON"):
        load_policy(folder)


def test_nan_weights_are_refused(tmp_path: Path) -> None:
    w = StudentWeights.random()
    w.layers[0][0][0, 0] = np.nan
    save_checkpoint(tmp_path / "n", "student", w.tensors(), {"student": {}})
    with pytest.raises(ModelError, match="NaN"):
        load_policy(tmp_path / "n")
