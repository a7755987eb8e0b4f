"""`aqmllm model check|seal PATH...`: verify a checkpoint as the daemon would, or seal it.

``check`` loads each model (digests, tensor table, architecture, schema and
ABI) and runs the load-time probe; one line per model, exit status 2 when
any is refused.  ``seal`` records the digests and tensor table of files you
trust (a checkpoint written before manifests carried them).
"""

from __future__ import annotations

import argparse
import sys

from aqmllm.models.checkpoint import ModelError

from aqmllm.console import add_version


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="aqmllm model", description=__doc__.splitlines()[0])
    ap.add_argument("action", choices=("check", "seal"))
    ap.add_argument("paths", nargs="+", metavar="PATH", help="checkpoint folder or manifest")
    add_version(ap)
    args = ap.parse_args(argv)
    from aqmllm.models.checkpoint import seal_checkpoint
    from aqmllm.models.probe import probe_policy
    from aqmllm.models.runtime import load_policy

    failed = 0
    for path in args.paths:
        try:
            if args.action == "seal":
                print(f"{seal_checkpoint(path)}: sealed")
                continue
            policy = load_policy(path)
            r = probe_policy(policy)
            print(
                f"{path}: ok ({policy.name}; probe: empty queue passes >= {r.idle_pass:.2f},"
                f" signal {r.idle_signal:.3f} at rest, {r.busy_signal:.3f} congested)"
            )
        except ModelError as exc:
            print(f"aqmllm model: {exc}", file=sys.stderr)
            failed += 1
    return 2 if failed else 0
