"""aqmllmd: the inference daemon.

    aqmllmd [-c FILE] [--set section.key=value ...]      run on the ring
    aqmllmd --serve [-c FILE] [--set ...]                 remote inference server
    aqmllmd --check-config [-c FILE] [--set ...]          check the configuration and exit
    aqmllmd --sample-config                               print a documented config
    aqmllmd --gen-keys                                    print a CURVE key pair
    aqmllmd --version

SIGTERM/SIGINT detach cleanly (the kernel falls back at once); SIGHUP
reloads the configuration, the model and telemetry without letting go of
the ring -- all of it or, when anything fails, none of it.
"""

from __future__ import annotations

import argparse
import logging
import logging.handlers
import os
import signal
import sys
import threading

import zmq
from aqmllm.bridge.ring import Ring, RingError, low_timer_slack
from aqmllm.daemon import pidfile
from aqmllm.daemon.config import Config, ConfigError, load_config, sample_config
from aqmllm.daemon.driver import drive
from aqmllm.daemon.policies import PolicyError, make_policy
from aqmllm.daemon.reload import Reloader
from aqmllm.daemon.state import (
    BuildError,
    DaemonState,
    StateHolder,
    activate,
    build_state,
    retire,
    swap,
)
from aqmllm.daemon.watchdog import Watchdog

from aqmllm.console import add_version

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


def _describe(state: DaemonState) -> str:
    cfg = state.cfg
    parts = []
    if state.loop is not None:
        parts.append(f"policy {state.loop.policy.name if state.loop.policy else 'off'}")
    if state.interval is not None:
        ivl = state.interval.policy
        parts.append(f"interval policy {ivl.name if ivl else 'off'}")
    if state.teacher is not None:
        parts.append(f"teacher {cfg['teacher.model']}")
    if cfg["telemetry.prometheus_port"]:
        parts.append(
            f"metrics http://{cfg['telemetry.prometheus_bind']}:"
            f"{cfg['telemetry.prometheus_port']}/metrics"
        )
    if cfg["telemetry.zmq_pub"]:
        parts.append(f"zmq {cfg['telemetry.zmq_pub']}")
    return ", ".join([*parts, f"mode {state.mode}"])


def run_daemon(cfg_path: str | None, overrides: list[str]) -> int:
    cfg = load_config(cfg_path, overrides)
    setup_logging(cfg)
    low_timer_slack()
    # Nothing may fail after the ring is attached that could be known before.
    why = pidfile.problem(cfg["daemon.pidfile"])
    if why:
        raise pidfile.PidfileError(why)
    ring = Ring.open(cfg["ring.path"])
    try:
        stale = ring.claim()  # one daemon per ring: refused here, before anything else
        if stale is not None:
            log.warning(
                "%s: taking the ring over from pid %d (gone without detaching)", ring.name, stale
            )
        watchdog = Watchdog(cfg["inference.model_timeout_ms"] / 1000)
        holder = StateHolder()
        # Attaching starts the producer's records: everything slow happens before.
        try:
            holder.current = build_state(cfg, ring, watchdog, holder.view)
        except BuildError as exc:
            raise RingError(str(exc)) from None
    except BaseException:
        ring.close()
        raise
    state = holder.current
    stop = threading.Event()

    def build_new() -> DaemonState:
        try:
            new_cfg = load_config(cfg_path, overrides)
            previous = holder.get()
            return build_state(
                new_cfg, previous.loops[0].ring, watchdog, holder.view, previous=previous
            )
        except (BuildError, ConfigError, PolicyError, RingError) as exc:
            raise BuildError(str(exc)) from None
        except Exception as exc:  # a bug: say what it was, keep the running state
            log.debug("reload", exc_info=True)
            raise BuildError(f"{type(exc).__name__}: {exc}") from None

    reloader: Reloader[DaemonState] = Reloader(build_new)

    def on_term(signum: int, _frame: object) -> None:
        log.info("signal %d: detaching", signum)
        stop.set()

    def on_hup(_signum: int, _frame: object) -> None:
        reloader.request()  # built aside; swapped between batches, never inside one

    def on_idle() -> None:
        done = reloader.poll()
        if done is not None:
            new, why = done
            if new is None:
                log.error("SIGHUP: reload failed, the running configuration stays: %s", why)
            else:
                old = holder.get()
                if (new.cfg["daemon.log"], new.cfg["daemon.log_level"]) != (
                    old.cfg["daemon.log"],
                    old.cfg["daemon.log_level"],
                ):
                    setup_logging(new.cfg)
                swap(old, new)
                holder.current = new
                log.info("SIGHUP: reloaded: %s", _describe(new))
        current = holder.get()
        current.telemetry.tick(current.cfg["telemetry.interval_s"])

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    signal.signal(signal.SIGHUP, on_hup)
    try:
        pidfile.write(cfg["daemon.pidfile"])
        activate(state)
        log.info(
            "attached to %s (%d records, %d verdict slots, %d interval records): %s",
            ring.name,
            ring.geometry.rec_entries,
            ring.geometry.vd_entries,
            ring.geometry.ivl_entries,
            _describe(state),
        )
        drive(lambda: holder.current.loops, watchdog, stop, on_idle)  # type: ignore[union-attr]
    finally:
        last = holder.get()
        retire(last)
        pidfile.remove(last.cfg["daemon.pidfile"])
        log.info("detached")
    return 0


def run_server(cfg_path: str | None, overrides: list[str]) -> int:
    cfg = load_config(cfg_path, overrides)
    setup_logging(cfg)
    from aqmllm.daemon.check import endpoint_problem
    from aqmllm.daemon.remote import serve

    why = endpoint_problem("server.bind", cfg["server.bind"], bind=True)
    if why:
        raise ConfigError(why)
    policy = make_policy(cfg["inference.policy"], cfg["inference.model"])
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    pidfile.write(cfg["daemon.pidfile"])
    try:
        serve(
            cfg["server.bind"],
            policy,
            cfg["server.max_frame_bytes"],
            {"secret_key": cfg["server.secret_key"], "public_key": cfg["server.public_key"]},
            stop=stop,
        )
    except zmq.ZMQError as exc:
        raise ConfigError(f"server.bind {cfg['server.bind']!r}: cannot bind: {exc}") from None
    finally:
        pidfile.remove(cfg["daemon.pidfile"])
    return 0


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="aqmllmd",
        description="The aqmllm inference daemon: decides per packet, or sets a bounded"
        " residual on each queue's fallback once per interval, on the dn_aqm_llm ring.",
        epilog="SIGHUP reloads the configuration, the model and telemetry (all or nothing);"
        " SIGTERM detaches. See aqmllmd(8).",
    )
    ap.add_argument("-c", "--config", metavar="FILE", help="TOML configuration file")
    ap.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override one configuration value (repeatable)",
    )
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--serve", action="store_true", help="run the remote inference server")
    mode.add_argument(
        "--check-config",
        action="store_true",
        help="check the configuration (ring, model, endpoints, keys, pidfile, ports) and exit",
    )
    mode.add_argument("--sample-config", action="store_true", help="print a documented config")
    mode.add_argument("--gen-keys", action="store_true", help="print a CURVE key pair (z85)")
    add_version(ap)
    return ap


def main(argv: list[str] | None = None) -> int:
    from aqmllm.console import run

    return run(lambda: _main(argv))


def _main(argv: list[str] | None) -> int:
    args = parser().parse_args(argv)
    try:
        if args.sample_config:
            print(sample_config())
            return 0
        if args.gen_keys:
            public, secret = zmq.curve_keypair()
            print(f'public_key = "{public.decode()}"\nsecret_key = "{secret.decode()}"')
            return 0
        if args.check_config:
            from aqmllm.daemon.check import run_check

            return run_check(args.config, args.set)
        if args.serve:
            return run_server(args.config, args.set)
        return run_daemon(args.config, args.set)
    except (ConfigError, RingError, PolicyError, pidfile.PidfileError) as exc:
        print(f"aqmllmd: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
