"""One daemon per ring on Linux too: an owner lock on the shm ring file."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
from aqmllm.bridge._aqmcore import lib
from aqmllm.bridge.ring import Ring, RingBusy, ring_owner
from aqmllm.sim.emu.daemon_ctl import read_header
from daemon_procs import attached, build_producer, daemon, finish, producer, stop, wait_for
from shm_producer import ShmProducer


@pytest.fixture(scope="module", autouse=True)
def built() -> None:
    build_producer()


def test_a_second_ring_mapping_cannot_claim_it(producer: ShmProducer, tmp_path: Path) -> None:
    a, b = Ring.open_shm(tmp_path / "ring"), Ring.open_shm(tmp_path / "ring")
    try:
        a.attach()
        assert ring_owner(tmp_path / "ring") == os.getpid()
        with pytest.raises(RingBusy, match=f"another aqmllmd \\(pid {os.getpid()}\\) owns"):
            b.attach()
        assert int(a.hdr["daemon_state"]) == lib.AQMLLM_DS_ATTACHED  # untouched by b
        a.close()  # detached and unlocked: the next one may come
        assert ring_owner(tmp_path / "ring") is None
        assert b.claim() is None  # a clean detach leaves no stale owner behind
    finally:
        b.close()


def test_a_stale_owner_is_reported_and_taken_over(producer: ShmProducer, tmp_path: Path) -> None:
    ring = Ring.open_shm(tmp_path / "ring")
    try:
        ring.hdr["daemon_pid"] = 2**22 + 12345  # a daemon that died without detaching
        ring.hdr["daemon_state"] = lib.AQMLLM_DS_ATTACHED
        assert ring.claim() == 2**22 + 12345
        ring.attach()
        assert int(ring.hdr["daemon_pid"]) == os.getpid()
    finally:
        ring.close()


def test_two_daemons_on_one_ring(tmp_path: Path) -> None:
    ring = tmp_path / "ring"
    prod = producer(ring, 4.0, 20000)
    wait_for(ring.exists, what="the ring")
    first = daemon(ring)
    try:
        wait_for(lambda: attached(ring, first.pid), what="the first daemon")
        second = daemon(ring)
        rc, err = finish(second)
        assert rc == 2, err
        assert f"another aqmllmd (pid {first.pid}) owns this ring" in err
        assert "Traceback" not in err
        # The first one was not disturbed: still the owner, still deciding.
        assert first.poll() is None and attached(ring, first.pid)
        out, perr = prod.communicate(timeout=60)
        assert prod.returncode == 0, perr
        res = json.loads(out)
        assert res["rejected_dup"] == 0 and res["verdicts_in"] > 0
    finally:
        stop(first)
        if prod.poll() is None:
            prod.kill()


def test_a_killed_daemon_is_taken_over_by_the_next(producer: ShmProducer, tmp_path: Path) -> None:
    ring = tmp_path / "ring"
    first = daemon(ring)
    wait_for(lambda: attached(ring, first.pid), what="the first daemon")
    first.send_signal(signal.SIGKILL)
    first.wait()
    assert read_header(str(ring))["daemon_pid"] == first.pid  # it never detached
    second = daemon(ring)
    try:
        wait_for(lambda: attached(ring, second.pid), what="the second daemon")
    finally:
        rc, err = stop(second)
    assert rc == 0, err
    assert f"taking the ring over from pid {first.pid}" in err
