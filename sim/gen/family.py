"""Scenario families: a distribution per latent parameter, read from a TOML file.

A family file names a distribution for each latent parameter of a generated
scenario (see ``LATENTS``); a latent the file leaves out keeps its "off"
value (no UDP, no capacity step, no web load...).  Distributions:

    key = 3.5                                   a constant (number, string, bool)
    key = {uniform = [lo, hi]}                  uniform
    key = {loguniform = [lo, hi]}               log-uniform (capacities, RTTs)
    key = {int = [lo, hi]}                      uniform integer, both ends included
    key = {logint = [lo, hi]}                   log-uniform integer (flow counts)
    key = {choice = ["a", "b"], weights = [3, 1]}
    any numeric one may add  p_off = 0.6        the latent takes its off value
                                                with that probability

A file may start from another family, ``extends = "wide"``: it takes that
family's keys and latents and overrides the ones it names (the long
families differ from their bases only in episode length).

A *point* is one draw: a flat dict latent -> value.  Scenarios are built
from points (sim/gen/build.py), and the focus sampler perturbs points
within the family's support (``perturb``).
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from aqmllm.sim.gen import limits

FAMILY_DIR = Path(__file__).resolve().parent.parent / "scenarios" / "families"

# latent -> (off value, kind).  kind: "num", "int" or "str"; the off value is
# what a family that does not mention the latent gets.
LATENTS: dict[str, tuple[Any, str]] = {
    "duration_s": (8.0, "num"),
    "rate_mbps": (20.0, "num"),
    "buffer_bdp": (4.0, "num"),  # buffer in multiples of the largest flow's BDP
    "rtt_mix": ("same", "str"),  # same | two | spread: how the groups' RTTs relate
    "rtt_base_ms": (20.0, "num"),
    "rtt_factor": (1.0, "num"),  # "two": the second RTT is base x factor
    "c_count": (2, "int"),  # classic TCP flows (C class), split into two groups
    "c_split": (0.0, "num"),  # share of them in the second group
    "c_kind": ("cubic", "str"),  # cubic | newreno | mixed (group 1 cubic, group 2 newreno)
    "c_ecn": ("not-ect", "str"),  # not-ect | ect0 | mixed (group 2 ECT(0))
    "l_count": (0, "int"),  # scalable (DCTCP, ECT(1)) flows: the L class
    "late_start_s": (0.0, "num"),  # the second classic group and half of L start this late
    "udp_load": (0.0, "num"),  # unresponsive UDP rate over the link rate (0: none)
    "udp_ecn": ("not-ect", "str"),  # not-ect | ect0 | ect1
    "udp_on_frac": (0.0, "num"),  # UDP runs from this fraction of the run...
    "udp_off_frac": (1.0, "num"),  # ... to this one
    "step_factor": (1.0, "num"),  # capacity after the step over before (1: no step)
    "step_at_frac": (0.5, "num"),
    "step_toggle_s": (0.0, "num"),  # >0: toggle back and forth with this period
    "web_load": (0.0, "num"),  # web transfers' offered load over the link rate (0: none)
    "web_cc": ("cubic", "str"),  # cubic | newreno | dctcp
    "web_ecn": ("not-ect", "str"),
    "web_size_dist": ("lognormal", "str"),  # lognormal | pareto
    "web_mean_kb": (50.0, "num"),
    "web_shape": (1.5, "num"),  # lognormal sigma, or Pareto alpha
    "web_rtt_ms": (20.0, "num"),
}
DIST_KEYS = ("uniform", "loguniform", "int", "logint", "choice")
SCENARIO_KEY_SETS = ("base", "extended")


class FamilyError(ValueError):
    """A family file is missing, malformed or out of range."""


@dataclass(frozen=True)
class Dist:
    kind: str  # const | uniform | loguniform | int | logint | choice
    lo: float = 0.0
    hi: float = 0.0
    values: tuple[Any, ...] = ()
    weights: tuple[float, ...] = ()
    p_off: float = 0.0
    off: Any = None

    def sample(self, rng: np.random.Generator) -> Any:
        if self.p_off and rng.random() < self.p_off:
            return self.off
        if self.kind == "const":
            return self.values[0]
        if self.kind == "choice":
            p = np.asarray(self.weights, float)
            return self.values[int(rng.choice(len(self.values), p=p / p.sum()))]
        u = rng.random()
        if self.kind == "uniform":
            return self.lo + u * (self.hi - self.lo)
        if self.kind == "loguniform":
            return math.exp(math.log(self.lo) + u * (math.log(self.hi) - math.log(self.lo)))
        if self.kind == "int":
            return int(min(self.hi, math.floor(self.lo + u * (self.hi - self.lo + 1))))
        # logint: log-uniform over [lo, hi + 1), floored, so each end gets its share
        lo, hi = math.log(self.lo), math.log(self.hi + 1)
        return int(min(self.hi, math.floor(math.exp(lo + u * (hi - lo)))))

    def perturb(self, value: Any, radius: float, rng: np.random.Generator) -> Any:
        """A draw near value: Gaussian in the distribution's own scale, kept in its support."""
        if self.kind in ("const",):
            return value
        if self.p_off and rng.random() < radius / 2:
            return self.off if value != self.off else self.sample_on(rng)
        if value == self.off and self.p_off:
            return value
        if self.kind == "choice":
            return value if rng.random() >= radius else self.sample_on(rng)
        log = self.kind in ("loguniform", "logint")
        lo, hi = (math.log(self.lo), math.log(self.hi)) if log else (self.lo, self.hi)
        x = math.log(value) if log else float(value)
        x = min(hi, max(lo, x + rng.normal(0.0, radius * (hi - lo))))
        x = math.exp(x) if log else x
        if self.kind in ("int", "logint"):
            return int(min(self.hi, max(self.lo, round(x))))
        return x

    def sample_on(self, rng: np.random.Generator) -> Any:
        return Dist(self.kind, self.lo, self.hi, self.values, self.weights).sample(rng)

    def contains(self, value: Any) -> bool:
        if self.p_off and value == self.off:
            return True
        if self.kind in ("const", "choice"):
            return value in self.values
        return self.lo - 1e-9 <= value <= self.hi + 1e-9


@dataclass(frozen=True)
class Family:
    name: str
    description: str
    path: str
    dists: dict[str, Dist]
    scenario_keys: str  # base: the first scenario format's keys; extended: + codepoints, web flows
    seeds_per_scenario: int
    start_jitter_ms: float

    def sample(self, rng: np.random.Generator) -> dict[str, Any]:
        return {k: self.dists[k].sample(rng) for k in LATENTS}

    def perturb(self, point: dict[str, Any], radius: float, rng: np.random.Generator) -> dict:
        return {
            k: self.dists[k].perturb(point.get(k, self.dists[k].off), radius, rng) for k in LATENTS
        }


def _parse_dist(where: str, key: str, raw: Any) -> Dist:
    off, kind = LATENTS[key]
    if not isinstance(raw, dict):
        ok = (
            isinstance(raw, str)
            if kind == "str"
            else (isinstance(raw, int | float) and not isinstance(raw, bool))
        )
        if not ok:
            raise FamilyError(
                f"{where}.{key}: expected a {'string' if kind == 'str' else 'number'}"
                f" or a distribution table, got {raw!r}"
            )
        return Dist("const", values=(raw,), off=off)
    names = [d for d in DIST_KEYS if d in raw]
    extra = sorted(set(raw) - set(DIST_KEYS) - {"weights", "p_off"})
    if len(names) != 1 or extra:
        raise FamilyError(
            f"{where}.{key}: a distribution needs exactly one of"
            f" {', '.join(DIST_KEYS)} (and optional weights, p_off); got {sorted(raw)}"
        )
    name = names[0]
    if "weights" in raw and name != "choice":
        raise FamilyError(f"{where}.{key}: weights only go with a choice")
    p_off = raw.get("p_off", 0.0)
    if not isinstance(p_off, int | float) or not 0 <= p_off <= 1:
        raise FamilyError(f"{where}.{key}.p_off: expected a probability, got {p_off!r}")
    if name == "choice":
        values = raw["choice"]
        weights = raw.get("weights", [1.0] * len(values) if isinstance(values, list) else [])
        if not isinstance(values, list) or not values:
            raise FamilyError(f"{where}.{key}.choice: expected a non-empty list")
        if (
            not isinstance(weights, list)
            or len(weights) != len(values)
            or not all(isinstance(w, int | float) and w >= 0 for w in weights)
            or sum(weights) <= 0
        ):
            raise FamilyError(f"{where}.{key}.weights: expected {len(values)} non-negative weights")
        return Dist(
            "choice",
            values=tuple(values),
            weights=tuple(map(float, weights)),
            p_off=float(p_off),
            off=off,
        )
    if kind == "str":
        raise FamilyError(f"{where}.{key}: a string latent takes a constant or a choice")
    bounds = raw[name]
    if (
        not isinstance(bounds, list)
        or len(bounds) != 2
        or not all(isinstance(b, int | float) and not isinstance(b, bool) for b in bounds)
        or bounds[0] > bounds[1]
    ):
        raise FamilyError(f"{where}.{key}.{name}: expected [lo, hi] with lo <= hi, got {bounds!r}")
    if name in ("loguniform", "logint") and bounds[0] <= 0:
        raise FamilyError(f"{where}.{key}.{name}: a log-scale range must be positive")
    if kind == "int" and name in ("uniform", "loguniform"):
        name = "int" if name == "uniform" else "logint"
    return Dist(name, float(bounds[0]), float(bounds[1]), p_off=float(p_off), off=off)


def _read_family_file(name_or_path: str | Path) -> tuple[dict[str, Any], Path]:
    p = Path(name_or_path)
    if p.suffix != ".toml":
        p = FAMILY_DIR / f"{name_or_path}.toml"
        if not p.exists():
            known = ", ".join(family_names()) or "none"
            raise FamilyError(f"no scenario family {str(name_or_path)!r} (known: {known})")
    try:
        return tomllib.loads(p.read_text()), p
    except FileNotFoundError:
        raise FamilyError(f"{p}: no such family file") from None
    except tomllib.TOMLDecodeError as exc:
        raise FamilyError(f"{p}: not valid TOML: {exc}") from None


def _inherit(data: dict[str, Any], path: str, chain: tuple[str, ...] = ()) -> dict[str, Any]:
    """``data`` over the family it extends: top-level keys and latents it names win."""
    base_name = data.get("extends")
    if base_name is None:
        return data
    if not isinstance(base_name, str) or Path(base_name).suffix:
        raise FamilyError(f"{path}.extends: expected the name of a family in {FAMILY_DIR.name}/")
    if base_name in chain:
        raise FamilyError(f"{path}.extends: families extend each other in a cycle ({base_name})")
    try:
        raw, base_path = _read_family_file(base_name)
    except FamilyError as exc:
        raise FamilyError(f"{path}.extends: {exc}") from None
    base = _inherit(raw, str(base_path), (*chain, base_name))
    _parse_resolved(base, str(base_path))  # a fault in the base is named in its own file
    latents = data.get("latents", {})
    if not isinstance(latents, dict):
        raise FamilyError(f"{path}.latents: expected a table")
    merged = {**base, **{k: v for k, v in data.items() if k != "extends"}}
    merged["latents"] = {**base.get("latents", {}), **latents}
    if "name" not in data:
        merged["name"] = Path(path).stem
    return merged


def parse_family(data: dict[str, Any], path: str) -> Family:
    # the chain holds file stems, as ``extends`` names them: a file extending itself is a cycle
    return _parse_resolved(_inherit(data, path, (Path(path).stem,)), path)


def _parse_resolved(data: dict[str, Any], path: str) -> Family:
    allowed = {
        "name",
        "description",
        "scenario_keys",
        "seeds_per_scenario",
        "start_jitter_ms",
        "latents",
    }
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise FamilyError(f"{path}: unknown key(s) {', '.join(unknown)}")
    name = data.get("name", Path(path).stem)
    if not isinstance(name, str) or not name.replace("-", "").replace("_", "").isalnum():
        raise FamilyError(f"{path}.name: expected a name of letters, digits, - and _")
    keys = data.get("scenario_keys", "base")
    if keys not in SCENARIO_KEY_SETS:
        raise FamilyError(f"{path}.scenario_keys: expected one of {', '.join(SCENARIO_KEY_SETS)}")
    seeds = data.get("seeds_per_scenario", 2)
    if not isinstance(seeds, int) or isinstance(seeds, bool) or not 1 <= seeds <= 16:
        raise FamilyError(f"{path}.seeds_per_scenario: expected an integer in 1..16")
    jitter = data.get("start_jitter_ms", 200)
    if not isinstance(jitter, int | float) or not 0 <= jitter <= 2000:
        raise FamilyError(f"{path}.start_jitter_ms: expected a number in 0..2000")
    latents = data.get("latents", {})
    if not isinstance(latents, dict):
        raise FamilyError(f"{path}.latents: expected a table")
    bad = sorted(set(latents) - set(LATENTS))
    if bad:
        raise FamilyError(f"{path}.latents: unknown latent(s) {', '.join(bad)}")
    dists = {
        k: _parse_dist(f"{path}.latents", k, latents[k])
        if k in latents
        else Dist("const", values=(off,), off=off)
        for k, (off, _) in LATENTS.items()
    }
    family = Family(name, str(data.get("description", "")), path, dists, keys, seeds, float(jitter))
    check_family_ranges(family)
    return family


def load_family(name_or_path: str | Path) -> Family:
    """A family by name (sim/scenarios/families/NAME.toml) or by file path."""
    data, p = _read_family_file(name_or_path)
    return parse_family(data, str(p))


def family_names() -> list[str]:
    return sorted(f.stem for f in FAMILY_DIR.glob("*.toml"))


def check_family_ranges(family: Family) -> None:
    """A family's supports lie inside the generator's envelope (sim/gen/limits.py)."""
    for key, d in family.dists.items():
        where = f"{family.path}.latents.{key}"
        if key in limits.CHOICES:
            allowed = limits.CHOICES[key]
            bad = [v for v in (*d.values, d.off) if v not in allowed]
            if bad:
                raise FamilyError(f"{where}: {bad[0]!r} is not one of {', '.join(allowed)}")
            continue
        lo, hi = limits.NUMERIC[key]
        support = [*d.values] if d.kind == "const" else [d.lo, d.hi]
        if d.p_off:
            support.append(d.off)
        for v in support:
            if not lo <= v <= hi:
                raise FamilyError(f"{where}: {v} lies outside the generator's range [{lo}, {hi}]")
    if family.scenario_keys == "base":
        for key, values in limits.EXTENDED_ONLY.items():
            used = [v for v in family.dists[key].values if v in values]
            if used:
                raise FamilyError(
                    f'{family.path}.latents.{key}: {used[0]!r} needs scenario_keys = "extended"'
                )
        for key in limits.EXTENDED_LATENTS:
            d = family.dists[key]
            if d.kind != "const" or d.values[0] != 0:
                raise FamilyError(
                    f'{family.path}.latents.{key}: web flows need scenario_keys = "extended"'
                )
