"""`aqmllmd --serve` as a process: decides for a client, survives oversized
and garbage frames, speaks CURVE, and its clients fall back when it dies."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time

import msgpack
import numpy as np
import zmq
from aqmllm.bridge import layout
from aqmllm.daemon.policies import PassPolicy
from aqmllm.daemon.remote import RemotePolicy


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _records(n: int) -> np.ndarray:
    r = np.zeros(n, dtype=layout.RECORD_DTYPE)
    r["seq"] = np.arange(1, n + 1)
    r["ecn"] = layout.ECN_NOT_ECT
    r["flags"] = 0x01  # the fallback would drop: fallback-echo answers DROP
    return r


def _serve(endpoint: str, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "aqmllm.daemon.main", "--serve",
         "--set", f"server.bind={endpoint}", "--set", "server.max_frame_bytes=65536",
         "--set", "inference.policy=fallback-echo", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _until_served(client: RemotePolicy, n: int = 8) -> np.ndarray:
    end = time.monotonic() + 20
    while time.monotonic() < end:
        out = client.decide(_records(n))
        if client.remote_ok:
            return out
        time.sleep(0.05)
    raise AssertionError("the server never answered")


def test_server_process_serves_survives_bad_frames_and_its_death_is_survived() -> None:
    endpoint = f"tcp://127.0.0.1:{_port()}"
    server = _serve(endpoint)
    client = RemotePolicy(endpoint, 200, PassPolicy(), {})
    try:
        out = _until_served(client)
        assert list(np.unique(out)) == [layout.ACT_DROP]  # the server's policy, not PASS
        # An oversized frame (ZeroMQ cuts that peer off) and garbage do not hurt it.
        rogue = zmq.Context.instance().socket(zmq.DEALER)
        rogue.setsockopt(zmq.LINGER, 0)
        rogue.connect(endpoint)
        rogue.send(
            msgpack.packb({"v": 1, "id": 1, "abi": layout.ABI_VERSION, "records": bytes(64 * 4096)})
        )
        rogue.send(b"\xc1\xc1")
        rogue.close()
        ok = client.remote_ok
        assert list(np.unique(client.decide(_records(16)))) == [layout.ACT_DROP]
        assert client.remote_ok == ok + 1 and server.poll() is None
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(10)
    # The server is gone: the local policy decides, within the timeout.
    fallbacks = client.remote_fallbacks
    t0 = time.monotonic()
    out = client.decide(_records(4))
    assert time.monotonic() - t0 < 1.0
    assert list(np.unique(out)) == [layout.ACT_PASS]
    assert client.remote_fallbacks == fallbacks + 1
    client.close()


def test_curve_keys_on_both_sides() -> None:
    server_pub, server_sec = zmq.curve_keypair()
    client_pub, client_sec = zmq.curve_keypair()
    endpoint = f"tcp://127.0.0.1:{_port()}"
    server = _serve(
        endpoint,
        "--set", f"server.public_key={server_pub.decode()}",
        "--set", f"server.secret_key={server_sec.decode()}",
    )  # fmt: skip
    keys = {
        "server_public_key": server_pub.decode(),
        "client_public_key": client_pub.decode(),
        "client_secret_key": client_sec.decode(),
    }
    client = RemotePolicy(endpoint, 200, PassPolicy(), keys)
    try:
        assert list(np.unique(_until_served(client))) == [layout.ACT_DROP]
        # A client with the wrong server key never gets an answer: it falls back.
        wrong = dict(keys, server_public_key=zmq.curve_keypair()[0].decode())
        impostor = RemotePolicy(endpoint, 100, PassPolicy(), wrong)
        assert list(np.unique(impostor.decide(_records(4)))) == [layout.ACT_PASS]
        assert impostor.remote_ok == 0
        impostor.close()
    finally:
        client.close()
        server.send_signal(signal.SIGTERM)
        server.wait(10)


def test_a_non_loopback_server_without_keys_refuses_to_start() -> None:
    server = _serve("tcp://0.0.0.0:1")
    _, err = server.communicate(timeout=30)
    assert server.returncode == 2 and "CURVE keys required" in err
