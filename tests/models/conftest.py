from __future__ import annotations

from pathlib import Path

import pytest
from aqmllm.models.pool import write_pool
from aqmllm.models.synthetic import simulate


@pytest.fixture(scope="session")
def synthetic_pool(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small pool from the synthetic closed loop: three scenarios, two experts."""
    eps = []
    mixes = {
        "a": [("reno", 20), ("scalable", 20)],
        "b": [("reno-ecn", 30), ("scalable", 10)],
        "c": [("reno", 50)],
    }
    for name, mix in mixes.items():
        for expert in ("dualpi2", "pie"):
            eps.append(simulate(mix, expert, duration_s=1.0, seed=len(eps) + 1, scenario=name))
    return write_pool(tmp_path_factory.mktemp("pool") / "pool.npz", eps)
