"""The daemon around the loop: teacher policies, the model watchdog,
telemetry (ZeroMQ PUB + Prometheus), a producer restarting under it."""

from __future__ import annotations

import ctypes
import socket
import threading
import time
import urllib.request
from pathlib import Path

import msgpack
import numpy as np
import pytest
import zmq
from aqmllm.bridge import layout
from aqmllm.bridge._aqmcore import lib
from aqmllm.bridge.ring import Ring
from aqmllm.daemon.loop import InferenceLoop, LoopSettings
from aqmllm.daemon.metrics import registry_for
from aqmllm.daemon.policies import PassPolicy
from aqmllm.daemon.teacher import TeacherLoop
from aqmllm.daemon.telemetry import LoopView, Telemetry
from prometheus_client import generate_latest
from shm_producer import ShmProducer, wait_policy_off


class QueueTeacher:
    name = "queue-teacher"

    def __init__(self) -> None:
        self.calls = 0

    def queue_policies(self, records: np.ndarray) -> dict[int, tuple[float, float]]:
        self.calls += 1
        return {int(q): (0.0, 1.0) for q in np.unique(records["queue_id"])}


class BrokenTeacher:
    name = "broken"

    def queue_policies(self, records: np.ndarray) -> dict[int, tuple[float, float]]:
        return {0: (float("nan"), 0.5)}


class Hangs:
    name = "hangs"

    def __init__(self) -> None:
        self.release = threading.Event()

    def decide(self, records: np.ndarray) -> np.ndarray:
        self.release.wait(10)
        return np.full(len(records), layout.ACT_PASS, dtype=np.uint8)


class FreezesTheProcess:
    """Stands for SIGSTOP inside one test process: a C sleep that keeps the GIL,
    so no other thread (the watchdog included) runs, and no CPU is burnt."""

    name = "freezes"

    def __init__(self, ms: int) -> None:
        self.ms = ms
        self.calls = 0

    def decide(self, records: np.ndarray) -> np.ndarray:
        self.calls += 1
        if self.calls == 1:
            ctypes.PyDLL(None).usleep(self.ms * 1000)
        return np.full(len(records), layout.ACT_PASS, dtype=np.uint8)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def ring(producer: ShmProducer, tmp_path: Path):
    r = Ring.open_shm(tmp_path / "ring")
    yield r
    r.close()


def test_teacher_policy_decides_packets_without_a_verdict(
    producer: ShmProducer, ring: Ring
) -> None:
    loop = InferenceLoop(ring, PassPolicy)
    teacher = QueueTeacher()
    tl = TeacherLoop(loop, lambda: teacher, interval_s=0.01, ttl_ns=50_000_000)
    producer.now += 100_000
    first = producer.enqueue(2, ecn=1, qi=1)
    assert loop.step(now_ns=producer.now) == 2  # verdicts; the batch is kept
    assert tl.tick() == 1 and teacher.calls == 1
    assert loop.step(now_ns=producer.now) == 0  # no records: writes the policy
    assert loop.stats.policies_written == 1
    v = ring.verdicts[2]
    assert v["kind"] == layout.VK_POLICY and v["queue_id"] == 1 and v["seq"] == 0
    assert v["expiry_ns"] == producer.now + 50_000_000
    assert v["mark_prob"] == 2**32 - 1 and v["drop_prob"] == 0
    later = producer.enqueue(3, ecn=1, qi=1)  # no verdicts for these
    producer.now += 100_000  # the producer re-reads the daemon line every 50 us
    ring.heartbeat()
    acts = [producer.dequeue(p) for p in first + later]
    # The first two had verdicts (PASS); the rest follow the teacher: mark.
    assert acts == [layout.ACT_PASS] * 2 + [layout.ACT_MARK] * 3
    assert producer.counter("src_policy") == 3 and producer.counter("src_verdict") == 2


def test_a_broken_teacher_is_logged_and_retried(
    producer: ShmProducer, ring: Ring, caplog: pytest.LogCaptureFixture
) -> None:
    loop = InferenceLoop(ring, PassPolicy)
    tl = TeacherLoop(loop, BrokenTeacher, interval_s=0.01, ttl_ns=1_000_000)
    producer.now += 100_000
    producer.enqueue(2)
    loop.step(now_ns=producer.now)
    assert tl.tick() == 0
    assert tl.failures == 1 and "outside [0, 1]" in tl.last_error
    assert "teacher off" in caplog.text
    assert loop.stats.policies_written == 0
    # A teacher without queue_policies() is refused, not called.
    tl2 = TeacherLoop(loop, PassPolicy, interval_s=0.01, ttl_ns=1_000_000)
    assert tl2.tick() == 0 and "no queue_policies" in tl2.last_error


def test_watchdog_turns_the_policy_off_while_a_model_hangs(
    producer: ShmProducer, ring: Ring
) -> None:
    model = Hangs()
    loop = InferenceLoop(ring, lambda: model, LoopSettings(model_timeout_ms=30))
    producer.now += 100_000
    producer.enqueue(4)
    t = threading.Thread(target=loop.run, daemon=True)
    t.start()
    try:
        wait_policy_off(ring)
        assert loop.timer.busy_since != 0  # it is still inside the model call
    finally:
        model.release.set()
        loop.stop()
        t.join(5)
    assert not t.is_alive()
    assert loop.stats.timeouts == 1 and "took" in loop.off_reason
    assert loop.stats.verdicts == 0  # the late answer was thrown away


def test_a_stopped_process_is_not_a_slow_model(producer: ShmProducer, ring: Ring) -> None:
    # SIGSTOP for longer than the model timeout, landing inside a model call:
    # the kernel fell back on the stale heartbeat, but the model is not to
    # blame and must decide again at once, not after retry_after_s.
    model = FreezesTheProcess(300)
    loop = InferenceLoop(ring, lambda: model, LoopSettings(model_timeout_ms=30))
    t = threading.Thread(target=loop.run, daemon=True)
    t.start()
    try:
        time.sleep(0.1)  # the watchdog is running
        producer.now += 100_000
        producer.enqueue(4)
        end = time.monotonic() + 5
        while loop.stats.stood_still == 0:
            assert time.monotonic() < end, "the call never finished"
            time.sleep(0.005)
        producer.enqueue(4)
        while loop.stats.verdicts < 4:
            assert time.monotonic() < end, loop.stats
            time.sleep(0.005)
    finally:
        loop.stop()
        t.join(5)
    assert loop.stats.timeouts == 0 and loop.stats.failures == 0, loop.off_reason
    assert loop.policy is model and int(ring.hdr["daemon_state"]) == lib.AQMLLM_DS_ATTACHED
    assert max(loop.stats.latencies_us) < 30_000  # the frozen time is not the model's


def test_telemetry_over_zmq_and_prometheus(producer: ShmProducer, ring: Ring) -> None:
    loop = InferenceLoop(ring, PassPolicy)
    producer.now += 100_000
    producer.enqueue(5, ecn=1, qi=0)
    producer.enqueue(3, ecn=1, qi=1)
    loop.step(now_ns=producer.now)
    pub = f"tcp://127.0.0.1:{_free_port()}"
    port = _free_port()
    tel = Telemetry(loop, pub, port)
    sub = zmq.Context.instance().socket(zmq.SUB)
    sub.setsockopt(zmq.SUBSCRIBE, b"aqmllmd")
    sub.setsockopt(zmq.LINGER, 0)
    sub.connect(pub)
    try:
        snap = None
        end = time.monotonic() + 5
        while snap is None and time.monotonic() < end:  # PUB drops until SUB joins
            tel.tick(0.0)
            if sub.poll(50):
                topic, payload = sub.recv_multipart()
                snap = msgpack.unpackb(payload)
        assert snap is not None, "no telemetry published"
        assert snap["records"] == 8 and snap["by_action"]["pass"] == 8
        assert snap["queues"]["0"]["pass"] == 5 and snap["queues"]["1"]["records"] == 3
        assert "sojourn_us" in snap["queues"]["0"]
        body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read()
        text = body.decode()
        assert 'aqmllm_queue_verdicts_total{action="pass",queue="1"} 3.0' in text
        assert "aqmllm_policy_on 1.0" in text
        assert 'aqmllm_ring_decisions_total{source="fallback"}' in text
        # Loopback only.
        with pytest.raises(OSError):
            socket.create_connection((_non_loopback_address(), port), timeout=0.5).close()
    finally:
        sub.close()
        tel.close()


def _non_loopback_address() -> str:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))  # TEST-NET: nothing is sent by a UDP connect
            addr = s.getsockname()[0]
        except OSError:
            pytest.skip("no non-loopback address on this host")
    if addr.startswith("127."):
        pytest.skip("no non-loopback address on this host")
    return addr


def test_prometheus_text_is_well_formed(producer: ShmProducer, ring: Ring) -> None:
    loop = InferenceLoop(ring, PassPolicy)
    view = LoopView(loop)
    text = generate_latest(registry_for(lambda: view)).decode()
    helped, typed = set(), set()
    for line in text.splitlines():
        if line.startswith("# HELP "):
            helped.add(line.split()[2])
        elif line.startswith("# TYPE "):
            typed.add(line.split()[2])
        else:
            name, value = line.rsplit(" ", 1)
            float(value)
            assert name.startswith("aqmllm_"), name  # one prefix
    assert helped == typed and len(typed) > 20


def test_a_restarted_producer_is_followed_to_its_new_ring(tmp_path: Path) -> None:
    path = tmp_path / "ring"
    first = ShmProducer(path)
    ring = Ring.open_shm(path)
    loop = InferenceLoop(ring, PassPolicy)
    first.now += 100_000
    first.enqueue(10)
    assert loop.step(now_ns=first.now) == 10
    assert not loop.follow_producer()  # same file: nothing to do
    second = ShmProducer(path, entries=512)  # a new run, another geometry
    try:
        assert loop.follow_producer()
        assert loop.ring is not ring and loop.ring.geometry.rec_entries == 512
        assert int(loop.ring.hdr["daemon_state"]) == lib.AQMLLM_DS_ATTACHED
        second.now += 100_000
        second.enqueue(3)
        assert loop.step(now_ns=second.now) == 3
        # The first producer exits: it must not remove the second's file.
        first.close()
        assert path.exists() and not loop.follow_producer()
    finally:
        loop.ring.close()
        second.close()
    assert not path.exists()


def test_garbage_indices_are_resynchronised(
    producer: ShmProducer, ring: Ring, caplog: pytest.LogCaptureFixture
) -> None:
    loop = InferenceLoop(ring, PassPolicy)
    producer.now += 100_000
    producer.enqueue(4)
    ring._cons = 10**9  # as if rec_cons had been scribbled over
    assert loop.step(now_ns=producer.now) == 0
    assert loop.stats.resyncs == 1 and "record indices inconsistent" in caplog.text
    producer.enqueue(2)
    assert loop.step(now_ns=producer.now) == 2  # going on from the producer's index


def test_a_stale_cost_estimate_cannot_starve_the_model(producer: ShmProducer, ring: Ring) -> None:
    # After a stall the loop expects every model call to take 1 s, so every
    # record looks late; the estimate must decay until the model runs again.
    loop = InferenceLoop(ring, PassPolicy)
    loop.cost.value_ns = 1e9
    producer.now += 100_000
    written = 0
    for _ in range(60):
        producer.enqueue(1)
        producer.now += 1_000
        ring.heartbeat()
        written = loop.step()  # real time: the producer clock from the ring
        if written:
            break
    assert written == 1 and loop.stats.late_skipped > 0


def test_loop_takes_a_policy_object_and_a_daemon_config(producer: ShmProducer, ring: Ring) -> None:
    # The form the simulators use: InferenceLoop(ring, policy, config).step(now_ns)
    from aqmllm.daemon.config import load_config

    loop = InferenceLoop(ring, PassPolicy(), load_config(None, ["inference.batch_size=3"]))
    assert loop.settings.batch_size == 3
    producer.now += 100_000
    producer.enqueue(5)
    assert loop.step(now_ns=producer.now) == 3
    assert loop.step(now_ns=producer.now) == 2
