"""Remote inference over ZeroMQ: the happy path, a vanished server, bad frames."""

from __future__ import annotations

import threading
import time

import msgpack
import numpy as np
import pytest
import zmq
from aqmllm.bridge import layout
from aqmllm.daemon.config import ConfigError
from aqmllm.daemon.policies import FallbackEchoPolicy, PassPolicy
from aqmllm.daemon.remote import FrameError, RemotePolicy, decode_request, is_loopback, serve


class DropAll:
    name = "drop-all"

    def decide(self, records: np.ndarray) -> np.ndarray:
        return np.full(len(records), layout.ACT_DROP, dtype=np.uint8)


def _records(n: int) -> np.ndarray:
    r = np.zeros(n, dtype=layout.RECORD_DTYPE)
    r["seq"] = np.arange(1, n + 1)
    return r


@pytest.fixture
def server(unused_tcp_port: int):
    endpoint = f"tcp://127.0.0.1:{unused_tcp_port}"
    stop, ready = threading.Event(), threading.Event()
    t = threading.Thread(
        target=serve,
        args=(endpoint, DropAll(), 1 << 16, {}),
        kwargs={"stop": stop, "ready": ready},
        daemon=True,
    )
    t.start()
    ready.wait(5)
    yield endpoint
    stop.set()
    t.join(5)


@pytest.fixture
def unused_tcp_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_batches_are_decided_remotely(server: str) -> None:
    client = RemotePolicy(server, 2000, PassPolicy(), {})
    out = client.decide(_records(100))
    assert list(np.unique(out)) == [layout.ACT_DROP]
    assert client.remote_ok == 1 and client.remote_fallbacks == 0
    client.close()


def test_server_gone_falls_back_to_the_local_policy(unused_tcp_port: int) -> None:
    client = RemotePolicy(f"tcp://127.0.0.1:{unused_tcp_port}", 20, PassPolicy(), {})
    t0 = time.monotonic()
    out = client.decide(_records(10))
    assert time.monotonic() - t0 < 1.0
    assert list(np.unique(out)) == [layout.ACT_PASS] and client.remote_fallbacks == 1
    client.close()


def test_server_answers_garbage_with_an_error(server: str) -> None:
    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(server)
    for frame, message in (
        (b"\xc1 not msgpack", "not a msgpack frame"),
        (msgpack.packb([1, 2]), "not a msgpack map"),
        (msgpack.packb({"v": 9, "id": 1}), "protocol version 9"),
        (
            msgpack.packb({"v": 1, "id": 1, "abi": layout.ABI_VERSION, "records": b"x" * 63}),
            "not whole records",
        ),
    ):
        sock.send(frame)
        assert sock.poll(3000)
        reply = msgpack.unpackb(sock.recv())
        assert message in reply["error"]
    sock.close()


def test_oversized_frames_are_refused() -> None:
    big = msgpack.packb({"v": 1, "id": 1, "abi": layout.ABI_VERSION, "records": bytes(64 * 2000)})
    with pytest.raises(FrameError, match="exceeds the limit"):
        decode_request(big, 1 << 16)


def test_non_loopback_endpoints_need_curve_keys() -> None:
    assert is_loopback("tcp://127.0.0.1:1") and is_loopback("ipc:///tmp/x")
    assert not is_loopback("tcp://192.0.2.7:5558")
    with pytest.raises(ConfigError, match="CURVE keys are required"):
        RemotePolicy("tcp://192.0.2.7:5558", 10, FallbackEchoPolicy(), {})
