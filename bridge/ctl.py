"""aqmllmctl: configure and inspect the dn_aqm_llm queue manager.

aqmllmctl pipe N config [bw RATE] [delay MS] [queue N[KB|B]] aqm llm [fallback NAME] [--dry-run]
aqmllmctl sysctl show
aqmllmctl sysctl set NAME=VALUE ...
aqmllmctl stats [-w SECONDS] [--json] [--ring PATH]
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys

from aqmllm.bridge import layout
from aqmllm.bridge.dnmsg import DnMsgError, PipeConfig, build_pipe_config, parse_rate, send
from aqmllm.bridge.ring import RingError

import aqmllm

SYSCTL_PREFIX = "net.inet.ip.dummynet.llm."
PIPE_USAGE = (
    "usage: aqmllmctl pipe N config [bw RATE] [delay MS] [queue N|NKB|NB] aqm llm"
    " [fallback dualpi2|pie|codel] [--dry-run]\n\n"
    "Attach the AQM llm to dummynet pipe N (the IP_DUMMYNET3 message stock ipfw cannot build\n"
    "for a new AQM name). bw: e.g. 100Mbit/s; delay: milliseconds; queue: packets, or bytes\n"
    "with K (x1024) or B as in ipfw; fallback: the AQM that decides when the daemon does not\n"
    "(default: the module's sysctl). --dry-run prints the message in hexadecimal instead."
)


class CtlError(RuntimeError):
    pass


def _is_freebsd() -> bool:
    return sys.platform.startswith("freebsd")


def _int(name: str, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise CtlError(f"{name} {value!r} is not an integer") from None


def _queue(cfg: PipeConfig, value: str) -> None:
    """ipfw's queue sizes: N packets, NK or NKB (x1024 bytes), NB or Nbytes."""
    m = re.fullmatch(r"(\d+)\s*(k|kb|kbytes|b|by|bytes)?", value.strip(), re.IGNORECASE)
    if m is None:
        raise CtlError(f"queue {value!r}: expected packets (1000), or bytes (64KB, 65536B)")
    n, unit = int(m.group(1)), (m.group(2) or "").lower()
    cfg.queue_bytes = bool(unit)
    cfg.queue_pkts = n * 1024 if unit.startswith("k") else n


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
            _queue(cfg, value)
        elif word == "aqm":
            if value != "llm":
                raise CtlError(f"aqm {value!r}: only llm is configured here (ipfw does the rest)")
            seen_aqm = True
        elif word == "fallback":
            cfg.fallback = value
        else:
            raise CtlError(f"unknown pipe option {word!r} (bw, delay, queue, aqm, fallback)")
    if not seen_aqm:
        raise CtlError("missing 'aqm llm'")
    return cfg


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
    if not args.assignments:
        raise CtlError("sysctl set needs NAME=VALUE, e.g. batch_size=128")
    for item in args.assignments:
        if "=" not in item:
            raise CtlError(f"{item!r}: expected name=value")
    names = [a if a.startswith(SYSCTL_PREFIX) else SYSCTL_PREFIX + a for a in args.assignments]
    return subprocess.run(["sysctl", *names]).returncode


def cmd_stats(args: argparse.Namespace) -> int:
    from aqmllm.bridge.ctl_stats import default_ring, render, stats

    if args.w < 0:
        raise CtlError(f"-w {args.w}: the interval must be a positive number of seconds")
    doc = stats(args.ring or default_ring(), args.w)
    print(json.dumps(doc, indent=2, sort_keys=True) if args.json else render(doc))
    return 0


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="aqmllmctl",
        description="Configure and inspect the dn_aqm_llm queue manager: attach the AQM llm to"
        " a dummynet pipe, show and set its sysctls, and show live counters from the ring.",
        epilog="See aqmllmctl(8).",
    )
    ap.add_argument(
        "--version",
        action="version",
        version=f"aqmllmctl {aqmllm.__version__} (ring ABI {layout.ABI_VERSION})",
    )
    sub = ap.add_subparsers(dest="cmd", required=True, metavar="COMMAND")
    p = sub.add_parser(
        "pipe",
        help="attach the AQM llm to a dummynet pipe",
        usage=PIPE_USAGE.split("\n", 1)[0].removeprefix("usage: "),
        add_help=False,
    )
    p.add_argument("pipe", metavar="N")
    p.add_argument("words", nargs=argparse.REMAINDER)
    p.add_argument("--dry-run", action="store_true", help="print the message, do not send")
    s = sub.add_parser("sysctl", help="show or set net.inet.ip.dummynet.llm.*")
    s.add_argument("action", choices=("show", "set"))
    s.add_argument("assignments", nargs="*", metavar="NAME=VALUE")
    t = sub.add_parser("stats", help="live counters from the ring, with rates over -w seconds")
    t.add_argument(
        "-w",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="read twice, SECONDS apart, and show rates per second",
    )
    t.add_argument("--json", action="store_true", help="one JSON document for machines")
    t.add_argument(
        "--ring",
        metavar="PATH",
        help="the ring: /dev/aqmllm on FreeBSD, a shared-memory file elsewhere"
        " (default /dev/shm/aqmllm)",
    )
    return ap


def _pipe_help(argv: list[str]) -> bool:
    """`pipe ... --help`: the words after `pipe` are free-form, so argparse never sees it."""
    return bool(argv) and argv[0] == "pipe" and any(w in ("-h", "--help") for w in argv[1:])


def main(argv: list[str] | None = None) -> int:
    from aqmllm.console import run

    return run(lambda: _main(list(sys.argv[1:] if argv is None else argv)))


def _main(argv: list[str]) -> int:
    if _pipe_help(argv):
        print(PIPE_USAGE)
        return 0
    args = parser().parse_args(argv)
    if args.cmd == "pipe" and "--dry-run" in args.words:
        args.words.remove("--dry-run")
        args.dry_run = True
    try:
        return {"pipe": cmd_pipe, "sysctl": cmd_sysctl, "stats": cmd_stats}[args.cmd](args)
    except (CtlError, DnMsgError, RingError) as exc:  # a ring of another ABI too: exit 2
        print(f"aqmllmctl: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        raise  # the reader went away: aqmllm.console ends quietly
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"aqmllmctl: {where}{exc.strerror or exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
