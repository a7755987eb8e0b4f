"""The C fast path against the numpy reference of the student, and its error paths."""

from __future__ import annotations

import numpy as np
import pytest
from aqmllm.bridge import layout
from aqmllm.models.checkpoint import ModelError
from aqmllm.models.features import QueueHistory, scalar_features, series_summary
from aqmllm.models.runtime import StudentPolicy
from aqmllm.models.student import StudentWeights, masked_logits, student_inputs


def _traffic(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    r = np.zeros(n, dtype=layout.RECORD_DTYPE)
    r["seq"] = np.arange(1, n + 1)
    r["queue_id"] = rng.integers(0, 5, n)
    r["ecn"] = rng.integers(0, 4, n)
    r["cls"] = np.isin(r["ecn"], (layout.ECN_ECT1, layout.ECN_CE))
    r["sojourn_ns"] = rng.integers(0, 40_000_000, n)
    r["est_wait_ns"] = rng.integers(0, 40_000_000, n)
    r["qlen_pkts"] = rng.integers(0, 3000, n)
    r["qlen_bytes"] = r["qlen_pkts"] * 1500
    r["other_qlen_pkts"] = rng.integers(0, 3000, n)
    r["fb_prob"] = rng.integers(0, 2**32, n, dtype=np.uint64)
    r["pkt_len"] = rng.integers(64, 1501, n)
    r["recent_drops"] = rng.integers(0, 50, n)
    r["recent_marks"] = rng.integers(0, 50, n)
    r["flags"] = rng.integers(0, 8, n)
    r["rate_kbps"] = rng.integers(0, 10**7, n)
    return r


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_scalars_match_their_definition() -> None:
    r = _traffic(300, 1)
    f = scalar_features(r)
    target = np.where(r["cls"] == layout.CLASS_L, 1e6, 15e6)
    assert np.allclose(f[:, 0], np.log1p(r["sojourn_ns"] / target), rtol=1e-6)
    assert np.allclose(f[:, 5], r["fb_prob"] / 2.0**32, rtol=1e-6)
    assert np.allclose(f[:, 17], np.log1p(r["rate_kbps"].astype(float)) / 20, rtol=1e-6)
    assert (f[:, 14] == ((r["flags"] & 1) != 0)).all()


def test_summary_is_mean_last_and_trend() -> None:
    s = np.random.default_rng(0).normal(size=(4, 3, 16)).astype(np.float32)
    out = series_summary(s)
    assert np.allclose(out[:, :3], s.mean(axis=2), atol=1e-6)
    assert np.allclose(out[:, 3:6], s[:, :, -1])
    assert np.allclose(out[:, 6:], s[:, :, -1] - s[:, :, :8].mean(axis=2), atol=1e-6)
    with pytest.raises(ValueError, match="series of shape"):
        series_summary(np.zeros((2, 3, 7), np.float32))


def test_decisions_follow_the_reference_over_many_batches() -> None:
    w = StudentWeights.random((32, 32), seed=4)
    fast, ref_hist = StudentPolicy(w), QueueHistory()
    for batch in range(6):
        recs = _traffic(200, 10 + batch)
        x, scalars = student_inputs(recs, ref_hist)
        want = _softmax(masked_logits(w, x, recs).astype(np.float64))
        ref_hist.update(recs, scalars)
        got = fast.probabilities(recs)
        assert np.allclose(got, want, atol=1e-5), batch
        assert (got[recs["ecn"] == layout.ECN_NOT_ECT, 2] == 0).all()
    assert np.allclose(fast.history.series, ref_hist.series[: fast.history.nqueues])


def test_sampling_matches_the_probabilities() -> None:
    w = StudentWeights.random((16,), seed=5)
    w.layers[-1][1][:] = [0.0, np.log(0.5), np.log(1.5)]  # p = 1/3, 1/6, 1/2 on zero input
    w.layers[-1][0][:] = 0
    pol = StudentPolicy(w, seed=3)
    recs = _traffic(60_000, 2)
    recs["ecn"] = layout.ECN_ECT1
    acts = pol.decide(recs)
    share = np.bincount(acts, minlength=4)[1:] / len(acts)
    assert np.allclose(share, [1 / 3, 1 / 6, 1 / 2], atol=0.01)


def test_non_finite_output_is_an_error_and_leaves_the_history() -> None:
    w = StudentWeights.random(seed=6)
    pol = StudentPolicy(w)
    pol.decide(_traffic(50, 3))
    before = pol.history.series.copy()
    w.layers[-1][1][0] = np.inf  # the policy holds its own copy: build a new one
    bad = StudentPolicy(w)
    bad.history.series[:] = before[: bad.history.nqueues]
    with pytest.raises(ModelError, match="non-finite"):
        bad.decide(_traffic(50, 4))
    assert np.array_equal(bad.history.series, before[: bad.history.nqueues])
    assert not bad.history.scratch.any()  # per-queue sums cleaned up


def test_too_wide_a_layer_is_refused() -> None:
    with pytest.raises(ModelError, match="widest"):
        StudentPolicy(StudentWeights.random((300,), seed=1))


def test_queue_ids_beyond_the_history_grow_it() -> None:
    pol = StudentPolicy(StudentWeights.random(seed=7))
    recs = _traffic(10, 5)
    recs["queue_id"] = 5000
    pol.decide(recs)
    assert pol.history.nqueues > 5000 and pol.history.series[5000, 0, -1] != 0
