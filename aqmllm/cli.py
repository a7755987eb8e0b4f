"""The `aqmllm` command: one entry point, one module per subcommand.

Each subcommand lives with its component and is imported only when used,
so `aqmllm evaluate` does not load torch and `aqmllm train` does not load
ns-3.  A subcommand is a function ``main(argv: list[str]) -> int``.
"""

from __future__ import annotations

import importlib
import sys

SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "train": ("aqmllm.models.train_cli", "offline RL training of the LLM teacher"),
    "distill": ("aqmllm.models.distill_cli", "distil the teacher into the line-rate student"),
    "collect": ("aqmllm.sim.collect_cli", "collect experience pools from the expert AQMs in ns-3"),
    "evaluate": ("aqmllm.sim.evaluate_cli", "closed-loop ns-3 evaluation against baseline AQMs"),
    "compare": ("aqmllm.sim.compare_cli", "does a model beat a reference AQM in a report"),
    "emulate": ("aqmllm.sim.emulate_cli", "real TCP through the emulated router and aqmllmd"),
}


def _usage() -> str:
    lines = ["usage: aqmllm COMMAND [ARGS...]", "", "commands:"]
    lines += [f"  {name:<10} {doc}" for name, (_, doc) in SUBCOMMANDS.items()]
    lines.append("\n`aqmllm COMMAND --help` describes each command.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0
    name, rest = args[0], args[1:]
    if name not in SUBCOMMANDS:
        print(f"aqmllm: unknown command {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(SUBCOMMANDS[name][0])
    return int(module.main(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
