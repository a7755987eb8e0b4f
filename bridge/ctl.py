"""aqmllmctl: attach the AQM "llm" to a pipe, show and set the module's
sysctls, and print live counters from the ring (text or JSON).

    aqmllmctl pipe 1 config bw 100Mbit/s queue 1000 aqm llm fallback pie [--dry-run]
    aqmllmctl sysctl show
    aqmllmctl sysctl set batch_size=128 fallback=dualpi2
    aqmllmctl stats [--json] [--ring PATH]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from aqmllm.bridge.dnmsg import DnMsgError, PipeConfig, build_pipe_config, parse_rate, send

SYSCTL_PREFIX = "net.inet.ip.dummynet.llm."


class CtlError(RuntimeError):
    pass


def _is_freebsd() -> bool:
    return sys.platform.startswith("freebsd")


def parse_pipe_words(pipe: str, words: list[str]) -> PipeConfig:
    try:
        cfg = PipeConfig(pipe=int(pipe))
    except ValueError:
        raise CtlError(f"pipe number {pipe!r} is not an integer") from None
    if not words or words[0] != "config":
        raise CtlError(
            "expected: pipe N config [bw RATE] [delay MS] [queue N] aqm llm [fallback NAME]"
        )
    it = iter(words[1:])
    seen_aqm = False
    for word in it:
        value = next(it, None)
        if value is None:
            raise CtlError(f"{word!r} needs a value")
        if word == "bw":
            cfg.bandwidth_bps = parse_rate(value)
        elif word == "delay":
            cfg.delay_ms = _int(word, value)
        elif word == "queue":
            cfg.queue_pkts = _int(word, value)
        elif word == "aqm":
            if value != "llm":
                raise CtlError(f"aqm {value!r}: only llm is configured here (ipfw does the rest)")
            seen_aqm = True
        elif word == "fallback":
            cfg.fallback = value
        else:
            raise CtlError(f"unknown pipe option {word!r}")
    if not seen_aqm:
        raise CtlError("missing 'aqm llm'")
    return cfg


def _int(name: str, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise CtlError(f"{name} {value!r} is not an integer") from None


def cmd_pipe(args: argparse.Namespace) -> int:
    msg = build_pipe_config(parse_pipe_words(args.pipe, args.words))
    if args.dry_run or not _is_freebsd():
        if not args.dry_run:
            raise CtlError(
                "sending dummynet configuration needs FreeBSD (use --dry-run to see the message)"
            )
        print(msg.hex())
        return 0
    send(msg)
    return 0


def cmd_sysctl(args: argparse.Namespace) -> int:
    if not _is_freebsd():
        raise CtlError(
            "the net.inet.ip.dummynet.llm sysctls exist only on FreeBSD with dn_aqm_llm loaded"
        )
    if args.action == "show":
        return subprocess.run(["sysctl", SYSCTL_PREFIX.rstrip(".")]).returncode
    for item in args.assignments:
        if "=" not in item:
            raise CtlError(f"{item!r}: expected name=value")
    names = [a if a.startswith(SYSCTL_PREFIX) else SYSCTL_PREFIX + a for a in args.assignments]
    return subprocess.run(["sysctl", *names]).returncode


def read_stats(ring_path: str | None) -> dict[str, int]:
    if _is_freebsd() and ring_path is None:
        from aqmllm.bridge import freebsd_dev

        fd, _ = freebsd_dev.open_device()
        try:
            return freebsd_dev.device_stats(fd)
        finally:
            import os

            os.close(fd)
    import mmap

    import numpy as np
    from aqmllm.bridge.layout import COUNTER_NAMES, HEADER_DTYPE, MAGIC

    path = Path(ring_path or "/dev/shm/aqmllm")
    try:
        with (
            open(path, "rb") as f,
            mmap.mmap(f.fileno(), HEADER_DTYPE.itemsize, prot=mmap.PROT_READ) as m,
        ):
            hdr = np.frombuffer(m, dtype=HEADER_DTYPE, count=1)[0].copy()
    except FileNotFoundError:
        raise CtlError(f"{path}: no ring here (is the producer running?)") from None
    except ValueError:
        raise CtlError(f"{path}: too small to be a ring") from None
    if int(hdr["magic"]) != MAGIC:
        raise CtlError(f"{path}: not an aqmllm ring (bad magic)")
    out = {name: int(hdr["counters"][i]) for name, i in sorted(COUNTER_NAMES.items())}
    out["rec_prod"] = int(hdr["rec_prod"])
    out["rec_cons"] = int(hdr["rec_cons"])
    out["daemon_state"] = int(hdr["daemon_state"])
    out["daemon_pid"] = int(hdr["daemon_pid"])
    return out


def cmd_stats(args: argparse.Namespace) -> int:
    stats = read_stats(args.ring)
    if args.json:
        print(json.dumps(stats, indent=2, sort_keys=True))
    else:
        width = max(len(k) for k in stats)
        for k, v in stats.items():
            print(f"{k:<{width}}  {v}")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="aqmllmctl", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("pipe", help="attach the AQM llm to a dummynet pipe")
    p.add_argument("pipe")
    p.add_argument("words", nargs=argparse.REMAINDER)
    p.add_argument("--dry-run", action="store_true", help="print the message, do not send")
    s = sub.add_parser("sysctl", help="show or set net.inet.ip.dummynet.llm.*")
    s.add_argument("action", choices=("show", "set"))
    s.add_argument("assignments", nargs="*")
    t = sub.add_parser("stats", help="live counters from the ring")
    t.add_argument("--json", action="store_true")
    t.add_argument("--ring", help="Linux shared-memory ring file (default /dev/shm/aqmllm)")
    args = ap.parse_args(argv)
    if args.cmd == "pipe" and "--dry-run" in args.words:
        args.words.remove("--dry-run")
        args.dry_run = True
    try:
        return {"pipe": cmd_pipe, "sysctl": cmd_sysctl, "stats": cmd_stats}[args.cmd](args)
    except (CtlError, DnMsgError) as exc:
        print(f"aqmllmctl: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"aqmllmctl: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
