"""`aqmllm model check|seal PATH...`: verify a checkpoint as the daemon would, or seal it.

``check`` loads each model (digests, tensor table, architecture, schema and
ABI) and runs the load-time probe of its tier (per packet or per interval,
from the manifest's mode); one line per model, exit status 2 when any is
refused.  ``seal`` records the digests and tensor table of files you
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
    from aqmllm.models.checkpoint import model_mode, read_manifest, seal_checkpoint

    failed = 0
    for path in args.paths:
        try:
            if args.action == "seal":
                print(f"{seal_checkpoint(path)}: sealed")
                continue
            mode = model_mode(read_manifest(path, mode=None, sealed=False)[0])
            print(f"{path}: ok ({_check_interval(path) if mode == 'interval' else _check(path)})")
        except ModelError as exc:
            print(f"aqmllm model: {exc}", file=sys.stderr)
            failed += 1
    return 2 if failed else 0


def _check(path: str) -> str:
    from aqmllm.models.probe import probe_policy
    from aqmllm.models.runtime import load_policy

    policy = load_policy(path)
    r = probe_policy(policy)
    return (
        f"{policy.name}; probe: empty queue passes >= {r.idle_pass:.2f},"
        f" signal {r.idle_signal:.3f} at rest, {r.busy_signal:.3f} congested"
    )


def _check_interval(path: str) -> str:
    from aqmllm.models.interval_probe import probe_interval_policy
    from aqmllm.models.interval_runtime import load_interval_policy

    policy = load_interval_policy(path)
    r = probe_interval_policy(policy)
    return (
        f"interval model {policy.name}; probe: {r.distinct} distinct residuals over"
        f" {r.states} queue states, {r.nonzero} not zero"
    )
