"""aqmllmd never marks a damaged or degenerate model ready: policy off, with the reason."""

from __future__ import annotations

import json
import logging
import struct
from pathlib import Path

import pytest
from aqmllm.bridge._aqmcore import lib
from aqmllm.bridge.ring import Ring
from aqmllm.daemon.loop import InferenceLoop
from aqmllm.daemon.policies import make_policy
from aqmllm.models.checkpoint import seal_checkpoint
from shm_producer import ShmProducer

SHIPPED = Path(__file__).resolve().parents[2] / "models" / "shipped" / "student"


@pytest.fixture
def ring(producer: ShmProducer, tmp_path: Path):
    r = Ring.open_shm(tmp_path / "ring")
    yield r
    r.close()


def _copy(tmp_path: Path) -> Path:
    folder = tmp_path / "student"
    folder.mkdir()
    for f in ("manifest.json", "weights.safetensors"):
        (folder / f).write_bytes((SHIPPED / f).read_bytes())
    return folder


def _drop_bias(folder: Path, value: float) -> None:
    w = folder / "weights.safetensors"
    blob = bytearray(w.read_bytes())
    n = struct.unpack("<Q", blob[:8])[0]
    start = json.loads(blob[8 : 8 + n])["l2.bias"]["data_offsets"][0]
    struct.pack_into("<f", blob, 8 + n + start + 4, value)
    w.write_bytes(bytes(blob))


@pytest.mark.parametrize("reseal", [False, True], ids=["flipped", "resealed"])
def test_damaged_weights_keep_the_policy_off(
    ring: Ring, tmp_path: Path, caplog: pytest.LogCaptureFixture, reseal: bool
) -> None:
    folder = _copy(tmp_path)
    _drop_bias(folder, 1e4)  # the weights now drop every packet
    if reseal:
        seal_checkpoint(folder)
    with caplog.at_level(logging.INFO, logger="aqmllmd"):
        loop = InferenceLoop(ring, lambda: make_policy("model", str(folder)))
    assert loop.policy is None
    assert int(ring.hdr["daemon_state"]) == lib.AQMLLM_DS_POLICY_OFF
    assert "ready" not in caplog.text
    why = "refused by the load-time probe" if reseal else "SHA-256"
    assert why in loop.off_reason and why in caplog.text


def test_the_shipped_student_is_ready(ring: Ring, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="aqmllmd"):
        loop = InferenceLoop(ring, lambda: make_policy("model", str(SHIPPED)))
    assert loop.policy is not None and "policy model:student-ns3-v1 ready" in caplog.text
