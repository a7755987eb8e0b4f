"""aqmllmd: the inference daemon.

    aqmllmd [-c FILE] [--set section.key=value ...]      run on the ring
    aqmllmd --serve [-c FILE]                             remote inference server
    aqmllmd --check-config [-c FILE]                      validate and exit
    aqmllmd --sample-config                               print a documented config
    aqmllmd --gen-keys                                    print a CURVE key pair

SIGTERM/SIGINT detach cleanly (the kernel falls back at once); SIGHUP
reloads the configuration and the model without letting go of the ring.
"""

from __future__ import annotations

import argparse
import logging
import logging.handlers
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import zmq
from aqmllm.bridge.ring import Ring, RingError, low_timer_slack
from aqmllm.daemon.config import Config, ConfigError, load_config, sample_config
from aqmllm.daemon.interval_loop import IntervalLoop, IntervalSettings
from aqmllm.daemon.interval_policies import IntervalPolicy, load_model, make_interval_policy
from aqmllm.daemon.loop import InferenceLoop, LoopSettings
from aqmllm.daemon.policies import Policy, PolicyError, make_policy
from aqmllm.daemon.teacher import TeacherLoop
from aqmllm.daemon.telemetry import Telemetry

log = logging.getLogger("aqmllmd")


def setup_logging(cfg: Config) -> None:
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    if cfg["daemon.log"] == "syslog":
        address = "/var/run/log" if os.path.exists("/var/run/log") else "/dev/log"
        handler: logging.Handler = logging.handlers.SysLogHandler(
            address=address, facility=logging.handlers.SysLogHandler.LOG_DAEMON
        )
        handler.setFormatter(logging.Formatter("aqmllmd[%(process)d]: %(message)s"))
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s aqmllmd %(levelname)s %(message)s"))
    root.addHandler(handler)
    root.setLevel(cfg["daemon.log_level"].upper())


def policy_factory(cfg: Config) -> Callable[[], Policy]:
    def build() -> Policy:
        local = make_policy(cfg["inference.policy"], cfg["inference.model"])
        if not cfg["inference.endpoint"]:
            return local
        from aqmllm.daemon.remote import RemotePolicy

        keys = {
            k: cfg[f"inference.{k}"]
            for k in ("server_public_key", "client_secret_key", "client_public_key")
        }
        return RemotePolicy(
            cfg["inference.endpoint"], cfg["inference.remote_timeout_ms"], local, keys
        )

    return build


def write_pidfile(path: str) -> None:
    if path:
        Path(path).write_text(f"{os.getpid()}\n")


def remove_pidfile(path: str) -> None:
    if path:
        try:
            Path(path).unlink()
        except FileNotFoundError:
            pass


def interval_factory(cfg: Config) -> Callable[[], IntervalPolicy]:
    """The [interval] policy; with teacher.mode = "live", the teacher with it as fallback."""

    def build() -> IntervalPolicy:
        student = make_interval_policy(cfg)
        if cfg["teacher.mode"] != "live":
            return student
        from aqmllm.daemon.live_teacher import LiveTeacher

        path = cfg["teacher.model"]
        return LiveTeacher(
            lambda: load_model(path),
            student,
            cfg["teacher.live_deadline_ms"] / 1000,
            cfg["inference.retry_after_s"],
        )

    return build


def make_teacher(cfg: Config, loop: InferenceLoop | None) -> TeacherLoop | None:
    if not cfg["teacher.model"] or cfg["teacher.mode"] != "policies" or loop is None:
        return None
    path = cfg["teacher.model"]
    return TeacherLoop(
        loop,
        lambda: make_policy("model", path),
        interval_s=cfg["teacher.interval_ms"] / 1000,
        ttl_ns=cfg["teacher.policy_ttl_ms"] * 1_000_000,
        retry_after_s=cfg["inference.retry_after_s"],
    )


def run_daemon(cfg_path: str | None, overrides: list[str]) -> int:
    cfg = load_config(cfg_path, overrides)
    setup_logging(cfg)
    low_timer_slack()
    ring = Ring.open(cfg["ring.path"])
    # Attaching starts the producer's records: everything slow happens before.
    telemetry_cfg = (cfg["telemetry.zmq_pub"], cfg["telemetry.prometheus_port"])
    mode = cfg["inference.mode"]
    loop = (
        InferenceLoop(ring, policy_factory(cfg), LoopSettings.from_config(cfg))
        if mode != "interval"
        else None
    )
    ivl = (
        IntervalLoop(ring, interval_factory(cfg), IntervalSettings.from_config(cfg))
        if mode != "packet"
        else None
    )
    state: dict[str, Any] = {"cfg": cfg, "hup": False}
    try:
        telemetry = Telemetry(loop, *telemetry_cfg, interval=ivl)
    except (zmq.ZMQError, OSError) as exc:
        ring.close()
        raise RingError(f"telemetry: cannot listen ({exc}); check [telemetry]") from None
    teacher = make_teacher(cfg, loop)
    if teacher is not None:
        teacher.start()
    state["teacher"] = telemetry.teacher = teacher

    def on_term(signum: int, _frame: object) -> None:
        log.info("signal %d: detaching", signum)
        (loop or ivl).stop()  # type: ignore[union-attr]

    def on_hup(_signum: int, _frame: object) -> None:
        state["hup"] = True  # handled between batches, never inside one

    def reload() -> None:
        state["hup"] = False
        try:
            new = load_config(cfg_path, overrides)
        except ConfigError as exc:
            log.error("SIGHUP: keeping the old configuration: %s", exc)
            return
        for key in ("ring.path", "inference.mode"):
            if new[key] != state["cfg"][key]:
                log.warning("SIGHUP: %s changes need a restart; keeping %s", key, state["cfg"][key])
        new.values["inference"]["mode"] = mode
        state["cfg"] = new
        if loop is not None:
            loop.settings = LoopSettings.from_config(new)
            loop.replace_policy(policy_factory(new))
        if ivl is not None:
            ivl.settings = IntervalSettings.from_config(new)
            ivl.replace_policy(interval_factory(new))
        if state["teacher"] is not None:
            state["teacher"].stop()
        state["teacher"] = telemetry.teacher = make_teacher(new, loop)
        if state["teacher"] is not None:
            state["teacher"].start()
        log.info("SIGHUP: configuration and model reloaded")

    def on_idle() -> None:
        if state["hup"]:
            reload()
        if ivl is not None and loop is not None:
            if ivl.ring is not loop.ring:  # the per-packet loop followed a new producer
                ivl.use_ring(loop.ring)
            ivl.step()  # beside the per-packet loop: its driver steps both
        elif loop is not None:
            loop.ring.skip_intervals()  # nobody reads them: hand them back
        telemetry.tick(state["cfg"]["telemetry.interval_s"])

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    signal.signal(signal.SIGHUP, on_hup)
    write_pidfile(cfg["daemon.pidfile"])
    log.info(
        "attached to %s (%d records, %d verdict slots, %d interval records; mode %s)",
        ring.name,
        ring.geometry.rec_entries,
        ring.geometry.vd_entries,
        ring.geometry.ivl_entries,
        mode,
    )
    try:
        if loop is not None:
            loop.run(on_idle=on_idle)
        else:
            ivl.run(on_idle=on_idle)  # type: ignore[union-attr]
    finally:
        if state["teacher"] is not None:
            state["teacher"].stop()
        close = getattr(ivl.policy if ivl else None, "close", None)
        if callable(close):
            close()
        (loop or ivl).ring.close()  # type: ignore[union-attr]  # it may have followed a new producer
        telemetry.close()
        remove_pidfile(cfg["daemon.pidfile"])
        log.info("detached")
    return 0


def run_server(cfg_path: str | None, overrides: list[str]) -> int:
    cfg = load_config(cfg_path, overrides)
    setup_logging(cfg)
    from aqmllm.daemon.remote import serve

    policy = make_policy(cfg["inference.policy"], cfg["inference.model"])
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    write_pidfile(cfg["daemon.pidfile"])
    try:
        serve(
            cfg["server.bind"],
            policy,
            cfg["server.max_frame_bytes"],
            {"secret_key": cfg["server.secret_key"], "public_key": cfg["server.public_key"]},
            stop=stop,
        )
    finally:
        remove_pidfile(cfg["daemon.pidfile"])
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="aqmllmd", description=__doc__.splitlines()[0])
    ap.add_argument("-c", "--config", help="TOML configuration file")
    ap.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override one configuration value (repeatable)",
    )
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--serve", action="store_true", help="run the remote inference server")
    mode.add_argument("--check-config", action="store_true", help="validate and exit")
    mode.add_argument("--sample-config", action="store_true", help="print a documented config")
    mode.add_argument("--gen-keys", action="store_true", help="print a CURVE key pair (z85)")
    args = ap.parse_args(argv)
    try:
        if args.sample_config:
            print(sample_config())
            return 0
        if args.gen_keys:
            import zmq

            public, secret = zmq.curve_keypair()
            print(f'public_key = "{public.decode()}"\nsecret_key = "{secret.decode()}"')
            return 0
        if args.check_config:
            cfg = load_config(args.config, args.set)
            print(f"{cfg.source}: ok")
            return 0
        if args.serve:
            return run_server(args.config, args.set)
        return run_daemon(args.config, args.set)
    except (ConfigError, RingError, PolicyError) as exc:
        print(f"aqmllmd: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
