"""Fixtures of the emulator tests: the router binary, iperf3, and the skip reason."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from host_figures import HostFigures

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def emu_router() -> Path:
    """The router, built from mk/emu.mk (cheap when up to date)."""
    subprocess.run(["make", "-s", "emu-router"], cwd=ROOT, check=True)
    return ROOT / "build" / "aqmllm-emu-router"


@pytest.fixture(scope="session")
def emu_env(emu_router: Path) -> Path:
    """Skip, with the reason, where namespaces, TUN, root or iperf3 are missing."""
    from aqmllm.sim.emu.topology import missing_prerequisites

    subprocess.run(["make", "-s", "emu-deps"], cwd=ROOT, check=False)
    why = missing_prerequisites()
    if why:
        pytest.skip(f"emulator unavailable: {why}")
    return emu_router


@pytest.fixture
def ring_path(tmp_path: Path) -> Iterator[str]:
    path = f"/dev/shm/aqmllm-emutest-{os.getpid()}-{tmp_path.name}"
    yield path
    Path(path).unlink(missing_ok=True)


@pytest.fixture
def host_figures(request: pytest.FixtureRequest) -> HostFigures:
    return HostFigures("not host_timing" not in (request.config.option.markexpr or ""))
