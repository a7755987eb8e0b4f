"""What CMA-ES searches in closed loop: a module to move, and how a candidate is saved.

Three spaces (issue 16):

- ``linear``: the 19-parameter linear target policy from zero (= DualPI2),
  models/rl/linear_interval.py -- ablation (c), no teacher; or the same
  over a named subset of interval-v3's columns;
- ``integral``: the same 19 parameters as a step on the target scale in
  effect each interval (zero holds it: from DualPI2's zero, DualPI2);
- ``student``: an interval-student checkpoint (an MLP over levels, by IQL or
  distilled from a teacher) as the start, a chosen subset of its tensors
  moved (item 6: direct fine-tuning from the trained weights).  Candidates
  keep the start's features, window, levels table and fallbacks, and name
  the start (path, digest) in their provenance.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch.nn as nn
from aqmllm.models.checkpoint import ModelError, load_tensors, read_manifest, sha256_hex


@dataclass
class SearchSpace:
    name: str
    make: Callable[[], nn.Module]  # a fresh module at the start point
    save: Callable[[nn.Module, Path, dict[str, Any]], Path]
    params: list[str] = field(default_factory=list)  # name prefixes; empty: all
    start: dict[str, Any] = field(default_factory=dict)  # provenance of the start point


def linear_space(schema: str | None = None, features: list[str] | None = None) -> SearchSpace:
    """The absolute linear target policy over a feature schema's columns (default:
    all of interval-v2's) or a named subset; ValueError naming an unknown one."""
    from aqmllm.models.rl.linear_interval import FEATURES, LinearTarget, save_policy

    chosen = schema or FEATURES
    names = tuple(features) if features else None
    LinearTarget(chosen, names)  # checks the schema and the names before any run
    start = {"schema": chosen, "features": list(names)} if schema or features else {}

    def make() -> nn.Module:
        return LinearTarget(chosen, names)

    return SearchSpace("linear", make, save_policy, start=start)  # type: ignore[arg-type]


def integral_space(
    features: list[str] | None = None,
    pools: list[str] | None = None,
    schema: str | None = None,
    ceiling: float | None = None,
) -> SearchSpace:
    """The integrating target policy over ``features`` of ``schema`` (default: every
    interval-v2 column but the target in effect), standardised over ``pools`` when given
    (their states are interval-v2), answering at most ``ceiling`` octaves; ValueError
    naming an unknown feature, a file that is not a pool or a ceiling out of range."""
    from aqmllm.models.rl.linear_interval import (
        FEATURES,
        IntegralTarget,
        pool_standardisation,
        save_integral_policy,
    )

    chosen = schema or FEATURES
    if pools and chosen != FEATURES:
        raise ValueError(
            f"behaviour pools hold {FEATURES} states: they cannot standardise {chosen}"
        )
    probe = IntegralTarget(tuple(features) if features else None, schema=chosen, ceiling=ceiling)
    names, top = probe.features, probe.ceiling  # the names and the ceiling, checked
    center, scale = pool_standardisation(list(pools), names) if pools else (None, None)
    start = {"standardised_over": list(pools or []), "center": center, "scale": scale}
    if schema or ceiling is not None:
        start |= {"schema": chosen, "ceiling": top}

    def make() -> nn.Module:
        return IntegralTarget(names, center, scale, chosen, top)

    return SearchSpace("integral", make, save_integral_policy, start=start)  # type: ignore[arg-type]


def _student_from(
    tensors: dict[str, np.ndarray], state_shape: tuple[int, int], arch: dict[str, Any]
):
    from aqmllm.models.interval_features import columns_of
    from aqmllm.models.rl.student import IntervalStudent

    # a blind start stays blind whatever tensors the search moves
    ignored = tuple(columns_of(arch.get("ignores", [])))
    s = IntervalStudent(state_shape, tuple(arch["hidden"]), ignored)
    try:
        s.load_numpy_tensors(tensors)
    except ValueError as exc:
        raise ModelError(f"the start: {exc}") from None
    return s


def student_space(start: str | Path, params: list[str]) -> SearchSpace:
    """Fine-tune a level-answering interval student (``params``: e.g. ["net.4."], its last
    layer); ModelError naming what does not fit."""
    from aqmllm.models.interval_checkpoint import save_interval_checkpoint

    manifest, folder = read_manifest(start, mode="interval")
    table = manifest.get("interval", {})
    arch = manifest.get("architecture", {})
    if manifest.get("kind") != "interval-student" or "levels" not in table:
        raise ModelError(f"{folder}: fine-tuning needs an interval student answering with levels")
    if arch.get("family") != "mlp" or not isinstance(arch.get("hidden"), list):
        raise ModelError(f"{folder}: its architecture is not an MLP student")
    tensors = load_tensors(manifest, folder)
    shape = (int(table["state_shape"][0]), int(table["state_shape"][1]))
    digest = sha256_hex((folder / "weights.safetensors").read_bytes())
    provenance = {"path": str(folder), "weights_sha256": digest,
                  "name": manifest.get("training", {}).get("name")}  # fmt: skip

    def make() -> nn.Module:
        return _student_from(tensors, shape, arch)

    def save(module: nn.Module, out: Path, training: dict[str, Any]) -> Path:
        return save_interval_checkpoint(
            out,
            "interval-student",
            module.numpy_tensors(),  # type: ignore[operator]
            str(table["features"]),
            shape,
            table["levels"],
            table["usable"],
            architecture=arch,
            training={**training, "fine_tuned_from": provenance},
        )

    return SearchSpace("student", make, save, list(params), provenance)
