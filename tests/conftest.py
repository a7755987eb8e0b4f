"""What more than one component's tests share: the helpers in tests/lib and
a producer on a shm ring (the C core, in process)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "lib"))

from shm_producer import ShmProducer  # noqa: E402


@pytest.fixture
def producer(tmp_path: Path):
    p = ShmProducer(tmp_path / "ring")
    yield p
    p.close()
