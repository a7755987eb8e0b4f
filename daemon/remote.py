"""Remote inference: routers ship record batches to one `aqmllmd --serve`.

Frames are msgpack maps over ZeroMQ DEALER/ROUTER:

    request  {"v": 1, "id": int, "abi": int, "records": bytes}
    reply    {"v": 1, "id": int, "actions": bytes} | {"v": 1, "id": int, "error": str}

Sizes are bounded on both sides, replies to old requests are ignored, and
a server that is slow or gone costs the router one timeout before its local
policy decides instead.  Endpoints off the loopback need CURVE keys.
"""

from __future__ import annotations

import logging
import time
from typing import Any
from urllib.parse import urlparse

import msgpack
import numpy as np
import zmq
from aqmllm.bridge import layout
from aqmllm.daemon.config import ConfigError
from aqmllm.daemon.policies import Policy, PolicyError

log = logging.getLogger("aqmllmd")
PROTOCOL = 1


class FrameError(ValueError):
    """A network message is malformed, oversized or of another protocol."""


def is_loopback(endpoint: str) -> bool:
    if endpoint.startswith("ipc://"):
        return True
    host = urlparse(endpoint.replace("tcp://", "http://", 1)).hostname or ""
    return host in ("localhost", "::1") or host.startswith("127.")


def _curve_client(sock: zmq.Socket, endpoint: str, keys: dict[str, str]) -> None:
    if is_loopback(endpoint) and not keys.get("server_public_key"):
        return
    need = ("server_public_key", "client_secret_key", "client_public_key")
    missing = [k for k in need if not keys.get(k)]
    if missing:
        raise ConfigError(
            f"inference.endpoint {endpoint} is not on the loopback: CURVE keys are required"
            f" (missing inference.{', inference.'.join(missing)})"
        )
    sock.curve_serverkey = keys["server_public_key"].encode()
    sock.curve_secretkey = keys["client_secret_key"].encode()
    sock.curve_publickey = keys["client_public_key"].encode()


def decode_request(payload: bytes, max_bytes: int) -> tuple[int, np.ndarray]:
    if len(payload) > max_bytes:
        raise FrameError(f"frame of {len(payload)} bytes exceeds the limit of {max_bytes}")
    try:
        msg = msgpack.unpackb(
            payload,
            raw=False,
            max_bin_len=max_bytes,
            max_str_len=1024,
            max_array_len=16,
            max_map_len=16,
        )
    except (msgpack.UnpackException, ValueError) as exc:
        raise FrameError(f"not a msgpack frame: {exc}") from None
    if not isinstance(msg, dict):
        raise FrameError("frame is not a msgpack map")
    if msg.get("v") != PROTOCOL:
        raise FrameError(f"protocol version {msg.get('v')!r}, expected {PROTOCOL}")
    if msg.get("abi") != layout.ABI_VERSION:
        raise FrameError(f"ring ABI {msg.get('abi')!r}, expected {layout.ABI_VERSION}")
    rid, blob = msg.get("id"), msg.get("records")
    if not isinstance(rid, int) or not isinstance(blob, bytes):
        raise FrameError("frame needs an integer 'id' and binary 'records'")
    if len(blob) % layout.RECORD_DTYPE.itemsize:
        raise FrameError(f"records blob of {len(blob)} bytes is not whole records")
    return rid, np.frombuffer(blob, dtype=layout.RECORD_DTYPE)


class RemotePolicy:
    """A policy evaluated on the inference server, with a local stand-in."""

    def __init__(
        self,
        endpoint: str,
        timeout_ms: int,
        local: Policy,
        keys: dict[str, str],
        max_reply_bytes: int = 1 << 24,
    ) -> None:
        self.name = f"remote:{endpoint}"
        self.local = local
        self.endpoint = endpoint
        self.timeout_ms = timeout_ms
        self.max_reply = max_reply_bytes
        self.remote_ok = 0
        self.remote_fallbacks = 0
        self._id = 0
        self._sock = zmq.Context.instance().socket(zmq.DEALER)
        self._sock.setsockopt(zmq.LINGER, 0)
        self._sock.setsockopt(zmq.SNDHWM, 4)
        self._sock.setsockopt(zmq.MAXMSGSIZE, max_reply_bytes)
        _curve_client(self._sock, endpoint, keys)
        self._sock.connect(endpoint)

    def decide(self, records: np.ndarray) -> np.ndarray:
        self._id += 1
        frame = msgpack.packb(
            {
                "v": PROTOCOL,
                "id": self._id,
                "abi": layout.ABI_VERSION,
                "records": np.ascontiguousarray(records).tobytes(),
            }
        )
        try:
            self._sock.send(frame, zmq.NOBLOCK)
        except zmq.Again:
            return self._fallback(records, "send queue full (server gone?)")
        deadline = time.monotonic() + self.timeout_ms / 1000
        while (left := deadline - time.monotonic()) > 0:
            if not self._sock.poll(int(left * 1000) + 1, zmq.POLLIN):
                break
            reply = self._parse_reply(self._sock.recv())
            if reply is None or reply.get("id") != self._id:
                continue  # a late answer to an earlier batch
            if "error" in reply:
                return self._fallback(records, f"server error: {reply['error']}")
            actions = np.frombuffer(reply.get("actions", b""), dtype=np.uint8)
            if len(actions) != len(records):
                return self._fallback(records, "reply has the wrong number of actions")
            self.remote_ok += 1
            return actions
        return self._fallback(records, f"no reply within {self.timeout_ms} ms")

    def _parse_reply(self, payload: bytes) -> dict[str, Any] | None:
        try:
            msg = msgpack.unpackb(payload, raw=False, max_bin_len=self.max_reply)
        except (msgpack.UnpackException, ValueError):
            log.warning("remote inference: discarded a malformed reply")
            return None
        return msg if isinstance(msg, dict) and msg.get("v") == PROTOCOL else None

    def _fallback(self, records: np.ndarray, why: str) -> np.ndarray:
        self.remote_fallbacks += 1
        if self.remote_fallbacks in (1, 10, 100) or self.remote_fallbacks % 1000 == 0:
            log.warning(
                "remote inference: %s; local policy decides (%d times)", why, self.remote_fallbacks
            )
        return self.local.decide(records)

    def close(self) -> None:
        self._sock.close()


def serve(
    bind: str,
    policy: Policy,
    max_frame_bytes: int,
    keys: dict[str, str],
    stop: Any = None,
    ready: Any = None,
) -> None:
    """The inference server loop (`aqmllmd --serve`)."""
    sock = zmq.Context.instance().socket(zmq.ROUTER)
    sock.setsockopt(zmq.LINGER, 0)
    # Oversized frames are cut off by ZeroMQ before they are buffered.
    sock.setsockopt(zmq.MAXMSGSIZE, max_frame_bytes)
    if not is_loopback(bind) or keys.get("secret_key"):
        if not (keys.get("secret_key") and keys.get("public_key")):
            raise ConfigError(
                f"server.bind {bind} is not on the loopback: CURVE keys required"
                " (server.secret_key, server.public_key)"
            )
        sock.curve_server = True
        sock.curve_secretkey = keys["secret_key"].encode()
        sock.curve_publickey = keys["public_key"].encode()
    sock.bind(bind)
    log.info("serving %s on %s", policy.name, bind)
    if ready is not None:
        ready.set()
    try:
        while stop is None or not stop.is_set():
            if not sock.poll(100, zmq.POLLIN):
                continue
            parts = sock.recv_multipart()
            if len(parts) != 2:
                continue
            ident, payload = parts
            rid = -1
            try:
                rid, records = decode_request(payload, max_frame_bytes)
                actions = np.asarray(policy.decide(records), dtype=np.uint8)
                reply = {"v": PROTOCOL, "id": rid, "actions": actions.tobytes()}
            except FrameError as exc:
                reply = {"v": PROTOCOL, "id": rid, "error": str(exc)}
            except (PolicyError, ValueError) as exc:
                reply = {"v": PROTOCOL, "id": rid, "error": f"model failed: {exc}"}
            sock.send_multipart([ident, msgpack.packb(reply)])
    finally:
        sock.close()
