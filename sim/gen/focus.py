"""Where to look next: scenarios the policy still trails DualPI2 on (Genet-style).

A focus file is JSON: a list (or ``{"entries": [...]}``) of entries, each
with ``gap`` (how far the policy trails DualPI2 there; > 0 trails, e.g.
minus the episode score of models/rl/reward.py) and either ``file`` (a
generated scenario, whose point is read from its ``# aqmllm-point:`` line)
or ``point`` (a latent dict).  Parents are drawn with probability
proportional to their positive gap; a new scenario is the parent's point
perturbed within the family's support.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from aqmllm.sim.gen.build import POINT_PREFIX
from aqmllm.sim.gen.family import LATENTS, Family, FamilyError


@dataclass(frozen=True)
class FocusEntry:
    name: str
    point: dict[str, Any]
    gap: float


def point_of_file(path: Path) -> dict[str, Any]:
    try:
        lines = path.read_text().splitlines()
    except (FileNotFoundError, UnicodeDecodeError, IsADirectoryError):
        raise FamilyError(f"{path}: focus scenario file missing or unreadable") from None
    for line in lines:
        if line.startswith(POINT_PREFIX):
            try:
                point = json.loads(line[len(POINT_PREFIX) :])
            except json.JSONDecodeError:
                break
            if isinstance(point, dict):
                return point
            break
    raise FamilyError(f"{path}: not a generated scenario (no valid '{POINT_PREFIX.strip()}' line)")


def load_focus(path: str | Path, family: Family) -> list[FocusEntry]:
    p = Path(path)
    try:
        data = json.loads(p.read_text())
    except FileNotFoundError:
        raise FamilyError(f"{p}: no such focus file") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise FamilyError(f"{p}: focus file is not valid JSON: {exc}") from None
    raw = data.get("entries") if isinstance(data, dict) else data
    if not isinstance(raw, list) or not raw:
        raise FamilyError(f"{p}: expected a non-empty list of {{file|point, gap}} entries")
    out = []
    for i, e in enumerate(raw):
        where = f"{p}: entry {i}"
        if (
            not isinstance(e, dict)
            or not isinstance(e.get("gap"), int | float)
            or isinstance(e.get("gap"), bool)
            or not np.isfinite(e["gap"])
        ):
            raise FamilyError(f"{where}: needs a finite number 'gap'")
        if "file" in e:
            f = Path(str(e["file"]))
            point = point_of_file(f if f.is_absolute() else p.parent / f)
            name = f.stem
        elif isinstance(e.get("point"), dict):
            point, name = e["point"], str(e.get("name", f"point{i}"))
        else:
            raise FamilyError(f"{where}: needs 'file' or a 'point' table")
        missing = sorted(set(LATENTS) - set(point))
        if missing:
            raise FamilyError(f"{where}: point lacks latent(s) {', '.join(missing)}")
        for k in LATENTS:
            if not family.dists[k].contains(point[k]):
                raise FamilyError(
                    f"{where}: latent {k} = {point[k]!r} lies outside family {family.name}"
                )
        out.append(FocusEntry(name, {k: point[k] for k in LATENTS}, float(e["gap"])))
    return out


def write_focus(path: str | Path, gaps: dict[str, float]) -> Path:
    """A focus file from {generated scenario file: gap}, e.g. gap = -episode score, averaged
    over the run's seeds."""
    entries = []
    for f, gap in sorted(gaps.items()):
        if not np.isfinite(gap):
            raise FamilyError(f"{f}: gap {gap!r} is not a finite number")
        entries.append({"file": str(Path(f).resolve()), "gap": float(gap)})
    if not entries:
        raise FamilyError("no scenarios to focus on")
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"entries": entries}, indent=1) + "\n")
    return out


def parent_weights(entries: list[FocusEntry], temperature: float = 1.0) -> np.ndarray:
    """Draw probabilities: positive gaps only, sharpened by 1/temperature."""
    gaps = np.array([max(e.gap, 0.0) for e in entries])
    if not gaps.any():
        return np.zeros(len(entries))
    w = gaps ** (1.0 / temperature)
    return w / w.sum()
