"""What every aqmllm command does at its edges, so that none prints a traceback there.

Argument types that name the problem (``positive_int`` ...), ``--version``
for every parser, and:

``run(main)`` calls a command's main and flushes its output inside the
same guard: a reader that went away (``aqmllmctl stats | head``) ends the
command quietly with the shell's usual status for SIGPIPE, Ctrl-C with
130 -- neither is the command's failure, and neither deserves a
traceback.
"""

from __future__ import annotations

import os
import sys
from argparse import ArgumentTypeError
from collections.abc import Callable
from typing import Any

EXIT_SIGPIPE = 128 + 13
EXIT_SIGINT = 128 + 2


def run(main: Callable[[], int]) -> int:
    try:
        rc = main()
        sys.stdout.flush()
        return rc
    except BrokenPipeError:
        # Nothing more can be written; keep the interpreter's own flush at exit quiet too.
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return EXIT_SIGPIPE
    except KeyboardInterrupt:
        return EXIT_SIGINT


def version_text(prog: str) -> str:
    import aqmllm

    try:
        from aqmllm.bridge import layout

        abi = f" (ring ABI {layout.ABI_VERSION})"
    except ImportError:  # the C extensions are not built
        abi = ""
    return f"{prog} {aqmllm.__version__}{abi}"


def add_version(parser: Any) -> None:
    """``--version`` on an argparse parser."""
    parser.add_argument("--version", action="version", version=version_text(parser.prog))


def _number(kind: type, low: float, inclusive: bool, what: str) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise ArgumentTypeError(f"{text!r} is not {what}") from None
        if value < low or (value == low and not inclusive) or value != value:  # NaN too
            raise ArgumentTypeError(f"{text!r} is not {what}")
        return value

    parse.__name__ = what  # argparse names the type in its messages
    return parse


positive_int = _number(int, 1, True, "a positive integer")
count = _number(int, 0, True, "a whole number >= 0")
positive_float = _number(float, 0.0, False, "a positive number")
nonneg_float = _number(float, 0.0, True, "a number >= 0")


def output_dir(path: str | os.PathLike[str]) -> None:
    """Make an output folder now, so that a run does not learn at its end that it cannot write.

    Raises OSError naming the path (the ``aqmllm`` command prints it in one line).
    """
    from pathlib import Path

    p = Path(path)
    p.mkdir(parents=True, exist_ok=True)
    if not os.access(p, os.W_OK | os.X_OK):
        raise PermissionError(13, "not writable", str(p))
