"""aqmllmd --check-config: does the configuration make sense here, not only parse?

Checked, with one line per problem (exit status 2 when there is any):

* ``ring.path``: the kind (the FreeBSD device, or a shm ring file) and
  whether it can be reached -- a ring of this ABI, readable and writable.
  On FreeBSD a ``/dev/`` path must be the aqmllm character device, there
  (a missing one means dn_aqm_llm is not loaded: a problem, since rc.d's
  configtest loads the module first), and its AQMLLM_IOC_INFO, read
  through a read-only descriptor, must give this ABI and a usable
  geometry. A shm ring that is not there yet is a note (the producer makes
  it), as is one a running aqmllmd owns;
* the models the mode runs: the per-packet model (``inference.policy =
  "model"``, modes packet and both) and the interval model
  (``interval.policy = "model"``, modes interval and both) load, their
  files match their seals and they pass their tier's load-time probe; the
  teacher's files are verified, as a model of the tier ``teacher.mode``
  needs (the LLM itself is loaded, and probed, when the daemon starts);
* every endpoint parses; CURVE keys are present (and match) where an
  endpoint leaves the loopback;
* the pid file's directory is writable and the file names no other
  running process;
* the telemetry ports are free on their addresses (a port the running
  aqmllmd holds is a note: a reload keeps it);
* syslog, when asked for, has a socket.

Overrides (``--set``) are checked with the file, or alone.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import sys
from pathlib import Path

from aqmllm.bridge.ring import RingError, read_header, ring_owner
from aqmllm.daemon import pidfile
from aqmllm.daemon.config import Config, ConfigError, load_config


class Findings:
    def __init__(self) -> None:
        self.problems: list[str] = []
        self.notes: list[str] = []

    def problem(self, text: str) -> None:
        self.problems.append(text)

    def note(self, text: str) -> None:
        self.notes.append(text)


def _is_freebsd() -> bool:
    return sys.platform.startswith("freebsd")


def check_device(path: str, f: Findings) -> None:
    """FreeBSD's /dev/aqmllm: there, a character device, and (opened read-only, nothing
    attached or mapped) of this ABI and a geometry this daemon can use, by AQMLLM_IOC_INFO."""
    from aqmllm.bridge import freebsd_dev

    p = Path(path)
    if not p.exists():
        f.problem(
            f"ring.path {path}: no such device; the dn_aqm_llm module is not loaded"
            ' (kldload dn_aqm_llm, or dn_aqm_llm_load="YES" in /boot/loader.conf)'
        )
        return
    if not p.is_char_device():
        f.problem(f"ring.path {path}: not a character device; the aqmllm device is one")
        return
    try:
        info = freebsd_dev.probe_device(path)
    except RingError as exc:
        f.problem(f"ring.path: {exc}")
        return
    if info.attached:
        f.note(f"ring.path {path}: a daemon is attached (a running aqmllmd)")


def check_ring(path: str, f: Findings) -> int | None:
    """The ring's kind and reachability; returns the pid of a daemon owning it."""
    p = Path(path)
    if _is_freebsd() and (path.startswith("/dev/") or p.is_char_device()):
        check_device(path, f)
        return None
    if not p.exists():
        if not p.parent.is_dir():
            f.problem(f"ring.path {path}: directory {p.parent} does not exist")
        else:
            f.note(f"ring.path {path}: no ring yet (the producer creates it; aqmllmd needs it)")
        return None
    if p.is_dir():
        f.problem(f"ring.path {path}: is a directory, not a ring")
        return None
    if p.is_char_device():
        f.problem(
            f"ring.path {path}: a character device; the aqmllm device exists only on FreeBSD,"
            " elsewhere ring.path names a shared-memory ring file"
        )
        return None
    if not p.is_file():
        f.problem(f"ring.path {path}: neither a ring file nor the aqmllm device")
        return None
    if not os.access(p, os.R_OK | os.W_OK):
        f.problem(f"ring.path {path}: not readable and writable by this user")
        return None
    try:
        read_header(p)
    except RingError as exc:
        f.problem(f"ring.path: {exc}")
        return None
    owner = ring_owner(p)
    if owner is not None:
        f.note(f"ring.path {path}: owned by a running aqmllmd (pid {owner})")
    return owner


def check_models(cfg: Config, f: Findings) -> None:
    mode = cfg["inference.mode"]
    if mode != "interval" and cfg["inference.policy"] == "model":
        from aqmllm.daemon.policies import PolicyError, make_policy

        try:
            make_policy("model", cfg["inference.model"])
        except PolicyError as exc:
            f.problem(f"inference.model {cfg['inference.model']!r}: {exc}")
    if mode != "packet" and cfg["interval.policy"] == "model":
        from aqmllm.daemon.interval_policies import load_model
        from aqmllm.daemon.policies import PolicyError

        try:
            load_model(cfg["interval.model"])
        except PolicyError as exc:
            f.problem(f"interval.model {cfg['interval.model']!r}: {exc}")
    if cfg["teacher.model"]:
        try:
            from aqmllm.models.checkpoint import ModelError, load_tensors, read_manifest
        except ImportError as exc:
            f.problem(f"teacher.model: model support is not installed: {exc}")
            return
        tier = "interval" if cfg["teacher.mode"] == "live" else "packet"
        try:
            manifest, folder = read_manifest(cfg["teacher.model"], mode=tier)
            load_tensors(manifest, folder)
        except ModelError as exc:
            f.problem(f"teacher.model {cfg['teacher.model']!r}: {exc}")


def _split_tcp(rest: str) -> tuple[str, str] | None:
    host, sep, port = rest.rpartition(":")
    if not sep or not host or not port:
        return None
    return host.strip("[]"), port


def endpoint_problem(key: str, endpoint: str, bind: bool) -> str | None:
    """Why a ZeroMQ endpoint cannot work, or None (tcp://host:port or ipc://path)."""
    scheme, sep, rest = endpoint.partition("://")
    if not sep or scheme not in ("tcp", "ipc"):
        return f"{key} {endpoint!r}: expected tcp://HOST:PORT or ipc://PATH"
    if scheme == "ipc":
        if not rest:
            return f"{key} {endpoint!r}: ipc:// needs a path"
        parent = Path(rest).parent
        if bind and not parent.is_dir():
            return f"{key} {endpoint!r}: directory {parent} does not exist"
        return None
    hp = _split_tcp(rest)
    if hp is None:
        return f"{key} {endpoint!r}: expected tcp://HOST:PORT"
    host, port = hp
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        return f"{key} {endpoint!r}: port {port!r} is not 1..65535"
    if host == "*":
        return None if bind else f"{key} {endpoint!r}: '*' can only be bound, not connected to"
    try:
        socket.getaddrinfo(host, int(port))
    except (socket.gaierror, UnicodeError):
        if not bind:  # a bind may name an interface (eth0)
            return f"{key} {endpoint!r}: host {host!r} does not resolve"
        if not Path(f"/sys/class/net/{host}").exists() and not _is_freebsd():
            return f"{key} {endpoint!r}: {host!r} is neither an address nor an interface"
    return None


def _is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def off_loopback(endpoint: str) -> bool:
    if endpoint.startswith("ipc://"):
        return False
    hp = _split_tcp(endpoint.partition("://")[2])
    return hp is not None and not _is_loopback_host(hp[0])


def key_problems(cfg: Config, f: Findings) -> None:
    import zmq
    from zmq.utils import z85

    def valid(key: str) -> bool:
        value = cfg[key]
        if len(value) != 40:
            return False
        try:
            return len(z85.decode(value)) == 32
        except (ValueError, KeyError, TypeError):
            return False

    def check_pair(secret: str, public: str) -> None:
        for key in (secret, public):
            if cfg[key] and not valid(key):
                f.problem(f"{key}: not a CURVE key (40 z85 characters; aqmllmd --gen-keys)")
                return
        if cfg[secret] and cfg[public]:
            derived = zmq.curve_public(cfg[secret].encode()).decode()
            if derived != cfg[public]:
                f.problem(f"{public} does not belong to {secret} (aqmllmd --gen-keys makes a pair)")

    client = ("inference.server_public_key", "inference.client_secret_key")
    client += ("inference.client_public_key",)
    endpoint = cfg["inference.endpoint"]
    if endpoint and off_loopback(endpoint):
        missing = [k for k in client if not cfg[k]]
        if missing:
            f.problem(
                f"inference.endpoint {endpoint} is off the loopback: CURVE keys are required"
                f" (missing {', '.join(missing)})"
            )
    if cfg["inference.server_public_key"] and not valid("inference.server_public_key"):
        f.problem("inference.server_public_key: not a CURVE key (40 z85 characters)")
    check_pair("inference.client_secret_key", "inference.client_public_key")
    if off_loopback(cfg["server.bind"]) and not (
        cfg["server.secret_key"] and cfg["server.public_key"]
    ):
        f.problem(
            f"server.bind {cfg['server.bind']} is off the loopback: aqmllmd --serve needs"
            " server.secret_key and server.public_key"
        )
    check_pair("server.secret_key", "server.public_key")


def _tcp_listener(pid: int, port: int) -> bool:
    """Whether process ``pid`` listens on TCP ``port`` (best effort, psutil)."""
    try:
        import psutil

        conns = psutil.Process(pid).net_connections(kind="tcp")
    except Exception:  # no such process, no permission, an old psutil
        return False
    return any(c.status == "LISTEN" and c.laddr and c.laddr.port == port for c in conns)


def port_problem(key: str, host: str, port: int, owner: int | None, f: Findings) -> None:
    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        f.problem(f"{key}: {host!r} is not an address of this host")
        return
    family, _, _, _, addr = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers do
        try:
            s.bind(addr)
        except OSError as exc:
            if owner is not None and owner > 0 and _tcp_listener(owner, port):
                f.note(
                    f"{key}: port {port} is the running aqmllmd's (pid {owner}); a reload keeps it"
                )
            else:
                f.problem(f"{key}: cannot listen on {host}:{port}: {exc.strerror or exc}")


def check_endpoints(cfg: Config, owner: int | None, f: Findings) -> None:
    for key, bind in (("inference.endpoint", False), ("telemetry.zmq_pub", True)):
        endpoint = cfg[key]
        if endpoint:
            why = endpoint_problem(key, endpoint, bind)
            if why:
                f.problem(why)
            elif bind and endpoint.startswith("tcp://"):
                hp = _split_tcp(endpoint[len("tcp://") :])
                if hp is not None and hp[0] != "*":
                    port_problem(key, hp[0], int(hp[1]), owner, f)
    why = endpoint_problem("server.bind", cfg["server.bind"], True)
    if why:
        f.problem(why)
    if cfg["telemetry.prometheus_port"]:
        port_problem(
            "telemetry.prometheus_port",
            cfg["telemetry.prometheus_bind"],
            cfg["telemetry.prometheus_port"],
            owner,
            f,
        )


def check_daemon(cfg: Config, owner: int | None, f: Findings) -> None:
    why = pidfile.problem(cfg["daemon.pidfile"])
    if why:
        if owner is not None and f"process {owner}" in why:
            f.note(f"daemon.pidfile {cfg['daemon.pidfile']}: names the running aqmllmd ({owner})")
        else:
            f.problem(why)
    if cfg["daemon.log"] == "syslog" and not any(
        os.path.exists(p) for p in ("/var/run/log", "/dev/log")
    ):
        f.problem("daemon.log = 'syslog': no syslog socket (/var/run/log, /dev/log) on this host")


def check(cfg: Config) -> Findings:
    f = Findings()
    owner = check_ring(cfg["ring.path"], f)
    check_models(cfg, f)
    check_endpoints(cfg, owner, f)
    key_problems(cfg, f)
    check_daemon(cfg, owner, f)
    return f


def label(path: str | None, overrides: list[str]) -> str:
    keys = [o.split("=", 1)[0].strip() for o in overrides]
    base = str(path) if path else "defaults"
    return f"{base} with --set {', '.join(keys)}" if keys else base


def run_check(path: str | None, overrides: list[str]) -> int:
    name = label(path, overrides)
    try:
        cfg = load_config(path, overrides)
    except ConfigError as exc:
        print(f"aqmllmd: {exc}", file=sys.stderr)
        return 2
    f = check(cfg)
    for note in f.notes:
        print(f"aqmllmd: {name}: note: {note}", file=sys.stderr)
    for problem in f.problems:
        print(f"aqmllmd: {name}: {problem}", file=sys.stderr)
    if f.problems:
        n = len(f.problems)
        print(f"aqmllmd: {name}: {n} problem{'s' if n > 1 else ''}", file=sys.stderr)
        return 2
    print(f"{name}: ok")
    return 0
