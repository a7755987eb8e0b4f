from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from shm_producer import ShmProducer  # noqa: E402


@pytest.fixture
def producer(tmp_path: Path):
    p = ShmProducer(tmp_path / "ring")
    yield p
    p.close()
