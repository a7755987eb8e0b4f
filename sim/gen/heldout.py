"""What generated scenarios must never collide with: the held-out suites.

The suites are read at run time from whatever exists under
sim/scenarios/{eval,rfc7928,l4s-stress}: their scenario names (the ``name``
key, else the file stem) and every seed in their ``seeds`` lists (default
[1], as sim/scenario.py has it).  Files are read as plain TOML, not through
the scenario loader, so a suite written with keys this build's loader does
not know yet still counts.  Nothing here is used for anything but refusing.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from aqmllm.sim.scenario import SCENARIO_DIR

HELD_OUT_SUITES = ("eval", "rfc7928", "l4s-stress")


class CollisionError(ValueError):
    """Generated output would collide with a held-out suite."""


@dataclass
class HeldOut:
    folders: list[Path]
    names: dict[str, Path] = field(default_factory=dict)
    seeds: dict[int, Path] = field(default_factory=dict)

    def check_out_dir(self, out: Path) -> None:
        target = out.resolve()
        for folder in self.folders:
            f = folder.resolve()
            if target == f or f in target.parents:
                raise CollisionError(
                    f"{out}: refusing to write generated scenarios into the held-out suite {folder}"
                )

    def check_scenario(self, name: str, seeds: list[int], path: Path) -> None:
        if name in self.names:
            raise CollisionError(
                f"{path}: scenario name {name!r} is taken by the held-out {self.names[name]}"
            )
        for s in seeds:
            if s in self.seeds:
                raise CollisionError(
                    f"{path}: seed {s} is in the seed list of the held-out {self.seeds[s]}"
                )


def default_folders() -> list[Path]:
    return [SCENARIO_DIR / s for s in HELD_OUT_SUITES]


def read_held_out(folders: list[Path] | None = None) -> HeldOut:
    """Names and seeds of every scenario file in the held-out folders that exist."""
    held = HeldOut(list(folders if folders is not None else default_folders()))
    for folder in held.folders:
        if not folder.is_dir():
            continue
        for f in sorted(folder.rglob("*.toml")):
            try:
                data = tomllib.loads(f.read_text())
            except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
                raise CollisionError(
                    f"{f}: a held-out scenario is not valid TOML ({exc}); cannot check collisions"
                ) from None
            name = data.get("name", f.stem)
            held.names[str(name)] = f
            seeds = data.get("seeds", [1])
            for s in seeds if isinstance(seeds, list) else [seeds]:
                if isinstance(s, int) and not isinstance(s, bool):
                    held.seeds.setdefault(s, f)
    return held
