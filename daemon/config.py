"""aqmllmd configuration: a TOML file plus command-line overrides.

Every key is declared once in SCHEMA with its type, default and bounds;
unknown keys and bad values are refused with the file, section and key
named.  Overrides use dotted names: ``--set inference.batch_size=128``.
"""

from __future__ import annotations

import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class ConfigError(ValueError):
    """A configuration value is missing, unknown or out of range."""


@dataclass(frozen=True)
class Key:
    kind: type
    default: Any
    lo: float | None = None
    hi: float | None = None
    choices: tuple[str, ...] | None = None
    doc: str = ""


SCHEMA: dict[str, dict[str, Key]] = {
    "ring": {
        "path": Key(
            str,
            "/dev/aqmllm" if sys.platform.startswith("freebsd") else "/dev/shm/aqmllm",
            doc="ring: /dev/aqmllm or a shm file",
        ),
    },
    "inference": {
        "mode": Key(
            str,
            "packet",
            choices=("packet", "interval", "both"),
            doc="what the daemon decides: per-packet verdicts (packet), a residual on each"
            " queue's fallback once per interval ([interval]), or both",
        ),
        "policy": Key(
            str,
            "fallback-echo",
            choices=("fallback-echo", "pass", "model"),
            doc="built-in policy, or 'model' to run inference.model",
        ),
        "model": Key(str, "", doc="student checkpoint (manifest JSON or its folder)"),
        "batch_size": Key(int, 256, 1, 65536, doc="records per inference batch"),
        "max_wait_us": Key(
            int,
            0,
            0,
            1_000_000,
            doc="hold a short batch this long for more records (0: decide at once;"
            " under load batches grow by themselves)",
        ),
        "busy_poll_us": Key(
            int,
            0,
            0,
            100_000,
            doc="spin this long on an idle shm ring before sleeping (costs CPU, cuts latency)",
        ),
        "deadline_margin_us": Key(int, 5, 0, 1_000_000, doc="skip verdicts later than this"),
        "model_timeout_ms": Key(int, 50, 1, 60_000, doc="a slower batch counts as a failure"),
        "retry_after_s": Key(float, 5.0, 0.0, 3600.0, doc="retry a failed model after"),
        "endpoint": Key(str, "", doc="remote inference server, tcp://host:port"),
        "remote_timeout_ms": Key(int, 5, 1, 60_000, doc="wait for the remote server at most"),
        "server_public_key": Key(str, "", doc="CURVE public key of the server (z85)"),
        "client_secret_key": Key(str, "", doc="CURVE secret key of this client (z85)"),
        "client_public_key": Key(str, "", doc="CURVE public key of this client (z85)"),
    },
    "interval": {
        "policy": Key(
            str,
            "fallback",
            choices=("fallback", "constant", "model"),
            doc="interval policy: fallback (zero residuals: the bare fallback), constant"
            " (the residual below), or model (interval.model)",
        ),
        "model": Key(str, "", doc="interval-tier checkpoint (mode 'interval'), for policy = model"),
        "target": Key(
            float, 0.0, -2.0, 1.0, doc="constant: log2 of the classic target's scale (-1: x1/2)"
        ),
        "mult_c": Key(float, 0.0, -3.0, 3.0, doc="constant: log2 multiplier on C's signal"),
        "mult_l": Key(float, 0.0, -3.0, 3.0, doc="constant: log2 multiplier on L's signal"),
        "step_us": Key(int, 0, 0, 4000, doc="constant: DualPI2's L step in us (0 keeps it)"),
        "expiry_intervals": Key(
            int, 4, 1, 60, doc="a residual expires this many intervals after it is written"
        ),
        "window": Key(int, 32, 1, 1024, doc="interval records kept per queue (the history)"),
        "model_timeout_ms": Key(
            int, 50, 1, 60_000, doc="a slower interval decision counts as a failure"
        ),
    },
    "teacher": {
        "mode": Key(
            str,
            "policies",
            choices=("policies", "live"),
            doc="policies: the teacher sets per-queue probabilities every interval_ms;"
            " live: it is the interval policy, batched over all queues each interval,"
            " with interval.model (or the fallback) deciding when it is late",
        ),
        "model": Key(
            str,
            "",
            doc="checkpoint with queue_policies() (the LLM teacher, or a student);"
            " empty: no teacher loop",
        ),
        "live_deadline_ms": Key(
            float,
            8.0,
            0.1,
            10_000.0,
            doc="live: how long an interval decision waits for the teacher before the"
            " student answers",
        ),
        "interval_ms": Key(int, 100, 1, 600_000, doc="teacher policy period"),
        "policy_ttl_ms": Key(int, 500, 1, 10_000, doc="lifetime of a teacher policy"),
    },
    "telemetry": {
        "zmq_pub": Key(str, "tcp://127.0.0.1:5557", doc="ZeroMQ PUB endpoint; empty: off"),
        "prometheus_port": Key(int, 9557, 0, 65535, doc="Prometheus HTTP port (/metrics); 0: off"),
        "prometheus_bind": Key(
            str,
            "127.0.0.1",
            doc="address the Prometheus endpoint listens on (loopback by default;"
            " 0.0.0.0 or :: for every interface)",
        ),
        "interval_s": Key(float, 1.0, 0.05, 3600.0, doc="publication period"),
    },
    "server": {
        "bind": Key(str, "tcp://127.0.0.1:5558", doc="aqmllmd --serve endpoint"),
        "max_frame_bytes": Key(int, 4 << 20, 1024, 1 << 30, doc="largest request accepted"),
        "secret_key": Key(str, "", doc="CURVE secret key of the server (z85)"),
        "public_key": Key(str, "", doc="CURVE public key of the server (z85)"),
    },
    "daemon": {
        "pidfile": Key(
            str,
            "",
            doc="write the pid here when run without daemon(8); leave empty under rc.d"
            " (daemon(8) writes the pid files there)",
        ),
        "log": Key(str, "stderr", choices=("stderr", "syslog"), doc="log destination"),
        "log_level": Key(
            str, "info", choices=("debug", "info", "warning", "error"), doc="log level"
        ),
    },
}


@dataclass
class Config:
    values: dict[str, dict[str, Any]] = field(default_factory=dict)
    source: str = "<defaults>"

    def __getitem__(self, dotted: str) -> Any:
        section, key = dotted.split(".", 1)
        return self.values[section][key]


def _coerce(where: str, spec: Key, value: Any) -> Any:
    if spec.kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, spec.kind) or isinstance(value, bool):
        raise ConfigError(f"{where}: expected {spec.kind.__name__}, got {value!r}")
    if spec.choices is not None and value not in spec.choices:
        raise ConfigError(f"{where}: {value!r} is not one of {', '.join(spec.choices)}")
    if spec.lo is not None and value < spec.lo:
        raise ConfigError(f"{where}: {value} is below the minimum {spec.lo}")
    if spec.hi is not None and value > spec.hi:
        raise ConfigError(f"{where}: {value} is above the maximum {spec.hi}")
    return value


def _parse_override(text: str) -> tuple[str, str, str]:
    if "=" not in text or "." not in text.split("=", 1)[0]:
        raise ConfigError(f"override {text!r}: expected section.key=value")
    name, raw = text.split("=", 1)
    section, key = name.strip().split(".", 1)
    return section, key, raw


def _override_value(spec: Key, raw: str) -> Any:
    """A --set value for its key: a string key takes the text as written unless it is a
    quoted TOML string (a CURVE key such as ``6#...`` would otherwise read as the number 6);
    other keys read it as a TOML value, where '#' is not a comment and a bare word stays a
    string for the type error."""
    quoted = raw.strip()[:1] in ("'", '"')
    if not quoted and (spec.kind is str or "#" in raw):  # no TOML comment cuts a value short
        return raw
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> Config:
    raw: dict[str, Any] = {}
    source = "<defaults>"
    if path:
        p = Path(path)
        source = str(p)
        try:
            raw = tomllib.loads(p.read_text())
        except FileNotFoundError:
            raise ConfigError(f"{p}: no such configuration file") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{p}: not valid TOML: {exc}") from None
    values = {s: {k: spec.default for k, spec in keys.items()} for s, keys in SCHEMA.items()}
    for section, table in raw.items():
        if section not in SCHEMA:
            raise ConfigError(f"{source}: unknown section [{section}]")
        if not isinstance(table, dict):
            raise ConfigError(f"{source}: [{section}] must be a table")
        for key, value in table.items():
            if key not in SCHEMA[section]:
                raise ConfigError(f"{source}: unknown key {section}.{key}")
            values[section][key] = _coerce(
                f"{source}: {section}.{key}", SCHEMA[section][key], value
            )
    for text in overrides or []:
        section, key, raw = _parse_override(text)
        if section not in SCHEMA or key not in SCHEMA[section]:
            raise ConfigError(f"override {text!r}: unknown key {section}.{key}")
        spec = SCHEMA[section][key]
        values[section][key] = _coerce(
            f"override {section}.{key}", spec, _override_value(spec, raw)
        )
    cfg = Config(values, source)
    if cfg["inference.policy"] == "model" and not cfg["inference.model"]:
        raise ConfigError(f"{source}: inference.policy = 'model' needs inference.model")
    if cfg["interval.policy"] == "model" and not cfg["interval.model"]:
        raise ConfigError(f"{source}: interval.policy = 'model' needs interval.model")
    if cfg["teacher.mode"] == "live" and not cfg["teacher.model"]:
        raise ConfigError(f"{source}: teacher.mode = 'live' needs teacher.model")
    if cfg["teacher.mode"] == "live" and cfg["inference.mode"] == "packet":
        raise ConfigError(
            f"{source}: teacher.mode = 'live' decides per interval; set inference.mode"
            " to 'interval' or 'both'"
        )
    if (
        cfg["teacher.model"]
        and cfg["teacher.mode"] == "policies"
        and (cfg["inference.mode"] == "interval")
    ):
        raise ConfigError(
            f"{source}: teacher.mode = 'policies' reads the per-packet loop's records, which"
            " inference.mode = 'interval' does not run; use teacher.mode = 'live'"
        )
    step = cfg["interval.step_us"]
    if step and step < 250:
        raise ConfigError(f"{source}: interval.step_us {step} is below 250 (or 0 to keep it)")
    endpoint = cfg["inference.endpoint"]
    if endpoint and not endpoint.startswith(("tcp://", "ipc://")):
        raise ConfigError(f"{source}: inference.endpoint {endpoint!r} must be tcp:// or ipc://")
    return cfg


def sample_config() -> str:
    """The documented sample file, generated from the schema."""
    out = ["# aqmllmd configuration (TOML). Every key is optional; defaults shown.", ""]
    for section, keys in SCHEMA.items():
        out.append(f"[{section}]")
        for key, spec in keys.items():
            value = f'"{spec.default}"' if spec.kind is str else repr(spec.default)
            out.append(f"# {spec.doc}")
            out.append(f"{key} = {value}")
        out.append("")
    return "\n".join(out)
