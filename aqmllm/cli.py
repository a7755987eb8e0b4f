"""The `aqmllm` command: one entry point, one module per subcommand.

Each subcommand lives with its component and is imported only when used,
so `aqmllm evaluate` does not load torch and `aqmllm train` does not load
ns-3.  A subcommand is a function ``main(argv: list[str]) -> int``.  What
the system refuses (an output folder that cannot be made, a file that
cannot be written) ends the subcommand with one line naming the file,
never a traceback.
"""

from __future__ import annotations

import importlib
import sys

from aqmllm.console import run, version_text

SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "train": ("aqmllm.models.train_cli", "offline RL training of the LLM teacher"),
    "distill": ("aqmllm.models.distill_cli", "distil the teacher into the line-rate student"),
    "collect": ("aqmllm.sim.collect_cli", "collect experience pools from the expert AQMs in ns-3"),
    "scenarios": ("aqmllm.sim.generate_cli", "generate training scenarios from families"),
    "evaluate": ("aqmllm.sim.evaluate_cli", "closed-loop ns-3 evaluation against baseline AQMs"),
    "compare": ("aqmllm.sim.compare_cli", "does a model beat a reference AQM in a report"),
    "emulate": ("aqmllm.sim.emulate_cli", "real TCP through the emulated router and aqmllmd"),
    "model": ("aqmllm.models.model_cli", "verify a checkpoint as aqmllmd would, or seal it"),
}


def _usage() -> str:
    lines = ["usage: aqmllm COMMAND [ARGS...]", "       aqmllm --version", "", "commands:"]
    lines += [f"  {name:<10} {doc}" for name, (_, doc) in SUBCOMMANDS.items()]
    lines.append("\n`aqmllm COMMAND --help` describes each command.")
    return "\n".join(lines)


def _dispatch(args: list[str]) -> int:
    if not args or args[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0
    if args[0] == "--version":
        print(version_text("aqmllm"))
        return 0
    name, rest = args[0], args[1:]
    if name not in SUBCOMMANDS:
        print(f"aqmllm: unknown command {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(SUBCOMMANDS[name][0])
    try:
        return int(module.main(rest) or 0)
    except BrokenPipeError:
        raise
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"aqmllm {name}: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2


def main(argv: list[str] | None = None) -> int:
    return run(lambda: _dispatch(list(sys.argv[1:] if argv is None else argv)))


if __name__ == "__main__":
    sys.exit(main())
