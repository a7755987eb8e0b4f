"""Model integrity: sealed tensor files, honest manifests, and the load-time probe."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest
from aqmllm.bridge import layout
from aqmllm.models.checkpoint import ModelError, save_checkpoint, seal_checkpoint
from aqmllm.models.probe import canonical_states, probe_policy
from aqmllm.models.runtime import StudentPolicy, load_policy
from aqmllm.models.student import StudentWeights

SHIPPED = Path(__file__).resolve().parents[2] / "models" / "shipped"


def _shipped_copy(tmp_path: Path) -> Path:
    folder = tmp_path / "student"
    folder.mkdir(parents=True)
    for f in ("manifest.json", "weights.safetensors"):
        (folder / f).write_bytes((SHIPPED / "student" / f).read_bytes())
    return folder


def _tensor_offset(path: Path, name: str, index: int) -> int:
    """Byte offset of element ``index`` of tensor ``name`` in a safetensors file."""
    blob = path.read_bytes()
    n = struct.unpack("<Q", blob[:8])[0]
    header = json.loads(blob[8 : 8 + n])
    return 8 + n + header[name]["data_offsets"][0] + 4 * index


def _set_float(path: Path, name: str, index: int, value: float) -> None:
    blob = bytearray(path.read_bytes())
    struct.pack_into("<f", blob, _tensor_offset(path, name, index), value)
    path.write_bytes(bytes(blob))


def _edit(folder: Path, fn) -> None:
    m = json.loads((folder / "manifest.json").read_text())
    fn(m)
    (folder / "manifest.json").write_text(json.dumps(m))


def test_shipped_models_are_sealed_and_the_student_passes_the_probe() -> None:
    for kind in ("student", "teacher"):
        m = json.loads((SHIPPED / kind / "manifest.json").read_text())
        assert m["format"] == 2 and len(m["files"]["weights.safetensors"]["sha256"]) == 64
        assert m["tensors"]
    result = probe_policy(load_policy(SHIPPED / "student"))
    assert result.idle_pass > 0.5 and result.busy_signal > result.idle_signal


def test_a_flipped_byte_is_refused_by_its_checksum(tmp_path: Path) -> None:
    folder = _shipped_copy(tmp_path)
    w = folder / "weights.safetensors"
    blob = bytearray(w.read_bytes())
    blob[_tensor_offset(w, "l2.bias", 1) + 3] ^= 0x40  # one exponent byte of the drop bias
    w.write_bytes(bytes(blob))
    with pytest.raises(ModelError, match="SHA-256 .* differs from the manifest's"):
        load_policy(folder)


def test_a_truncated_or_replaced_file_is_refused(tmp_path: Path) -> None:
    folder = _shipped_copy(tmp_path)
    w = folder / "weights.safetensors"
    w.write_bytes(w.read_bytes()[:-4])
    with pytest.raises(ModelError, match="truncated or replaced"):
        load_policy(folder)


def test_wrong_shapes_in_the_tensor_table_are_refused(tmp_path: Path) -> None:
    folder = _shipped_copy(tmp_path)
    _edit(folder, lambda m: m["tensors"]["l0.weight"].update(shape=[27, 64]))
    with pytest.raises(ModelError, match=r"tensor l0.weight is <f4 \(27, 32\), the manifest says"):
        load_policy(folder)
    folder2 = _shipped_copy(tmp_path / "b")
    _edit(folder2, lambda m: m["tensors"].pop("l2.bias"))
    with pytest.raises(ModelError, match="unexpected l2.bias"):
        load_policy(folder2)


def test_a_lying_architecture_is_refused(tmp_path: Path) -> None:
    # The digests and tensor table are honest; the architecture is not.
    folder = _shipped_copy(tmp_path)
    _edit(folder, lambda m: m["architecture"]["student"].update(hidden=[64, 16]))
    with pytest.raises(ModelError, match=r"manifest says student hidden \[64, 16\]"):
        load_policy(folder)


def test_other_weights_under_a_sealed_manifest_are_refused(tmp_path: Path) -> None:
    folder = _shipped_copy(tmp_path)
    save_checkpoint(tmp_path / "other", "student", StudentWeights.random(seed=3).tensors(), {})
    other = (tmp_path / "other" / "weights.safetensors").read_bytes()
    (folder / "weights.safetensors").write_bytes(other)
    with pytest.raises(ModelError, match="SHA-256|truncated or replaced"):
        load_policy(folder)


def test_an_unsealed_manifest_is_refused_until_sealed(tmp_path: Path) -> None:
    folder = _shipped_copy(tmp_path)
    _edit(folder, lambda m: [m.pop("files"), m.pop("tensors"), m.update(format=1)])
    with pytest.raises(ModelError, match="no checksums .* `aqmllm model seal"):
        load_policy(folder)
    seal_checkpoint(folder)
    assert load_policy(folder).name == "student-ns3-v1"


def test_resealed_corrupt_weights_fail_the_probe(tmp_path: Path) -> None:
    # Sealed after the damage (a bad export): only the probe can tell.
    folder = _shipped_copy(tmp_path)
    _set_float(folder / "weights.safetensors", "l2.bias", 1, 1e4)  # drop beats everything
    seal_checkpoint(folder)
    policy = load_policy(folder)
    with pytest.raises(ModelError, match="signals 100% of the packets of an empty queue"):
        probe_policy(policy)


def test_a_model_that_never_signals_fails_the_probe(tmp_path: Path) -> None:
    folder = _shipped_copy(tmp_path)
    for i in (1, 2):
        _set_float(folder / "weights.safetensors", "l2.bias", i, -1e4)
    seal_checkpoint(folder)
    with pytest.raises(ModelError, match="no more under congestion"):
        probe_policy(load_policy(folder))


class _Fake:
    name = "fake"

    def __init__(self, answer) -> None:
        self.answer = answer

    def probabilities(self, records: np.ndarray, fresh: bool = False) -> np.ndarray:
        return self.answer(records)


def test_the_probe_refuses_answers_that_are_not_valid_distributions() -> None:
    def nan(r):
        return np.full((len(r), 3), np.nan)

    def unnormalised(r):
        return np.full((len(r), 3), 0.5)

    def marks_not_ect(r):
        p = np.tile([0.9, 0.0, 0.1], (len(r), 1))
        busy = r["sojourn_ns"] > 3 * 15_000_000
        p[busy] = [0.5, 0.0, 0.5]
        return p

    def wrong_shape(r):
        return np.ones((len(r), 2)) / 2

    def raises(r):
        raise IndexError("boom")

    cases = {
        nan: "NaN or infinite",
        unnormalised: "not probability distributions",
        marks_not_ect: "CE-mark Not-ECT",
        wrong_shape: "shape",
        raises: "fails on the probe batch: boom",
    }
    for answer, why in cases.items():
        with pytest.raises(ModelError, match=why):
            probe_policy(_Fake(answer))


def test_the_probe_leaves_the_model_as_it_was() -> None:
    w = StudentWeights.from_tensors(
        {k: v for k, v in load_policy(SHIPPED / "student").weights.tensors().items()}
    )
    recs, _ = canonical_states()
    recs = np.tile(recs, 20)
    recs["queue_id"] = 0
    a, b = StudentPolicy(w, seed=5), StudentPolicy(w, seed=5)
    probe_policy(b)
    for _ in range(3):
        assert (a.decide(recs) == b.decide(recs)).all()
    assert np.array_equal(a.history.series, b.history.series)


def test_canonical_states_cover_every_codepoint_and_level() -> None:
    recs, levels = canonical_states()
    assert set(recs["ecn"]) == {layout.ECN_NOT_ECT, layout.ECN_ECT1, layout.ECN_ECT0}
    assert {"empty", "overload"} <= set(levels)
    assert len(set(recs["queue_id"])) == len(recs)  # no state sees another's history
