"""What decides in aqmllmd's interval loop: the interval-policy protocol and its built-ins.

An interval policy sees, each interval, the newest interval record of
every queue that produced one (``layout.INTERVAL_DTYPE``, one row per
queue) and answers with one residual per queue, in the residual verdict's
own fields and units (aqmllm_ring.h, VK_RESIDUAL):

    residuals(records) -> {"res_log2_mult": (Q, 2) int, per class (C, L), Q8 log2,
                           "res_step_us":   (Q,) int, DualPI2's L step in us, 0 keeps it,
                           "res_log2_target": (Q,) int, Q8 log2 of the classic target}

All zeros is exactly the fallback.  The producer clamps every value to the
header's bounds and counts the clamps; here answers are only checked for
shape and finiteness.  A policy that wants the daemon's per-queue history
(the last W records and the slow EWMAs, :mod:`aqmllm.models.interval_history`)
has ``bind_history(history)``; it is called once, before the first round.

Policies of issue 16 (``models/rl/policy_api.py``: ``act(records) -> (Q,
N_KNOBS)`` level indices, ``describe()``, ``reset()``) run through
:class:`LevelPolicy` with the level table their checkpoint or module
names.  Built-ins: ``fallback`` (zero residuals) and ``constant`` (one
configured residual for every queue).  Checkpoints load through
:func:`aqmllm.models.interval_runtime.load_interval_policy`, which refuses
a per-packet model by name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import numpy as np
from aqmllm.bridge import layout
from aqmllm.daemon.policies import PolicyError

FIELDS = ("res_log2_mult", "res_step_us", "res_log2_target")
KNOBS = ("target", "mult_c", "mult_l", "step")  # the order of issue 16's level tables


class IntervalPolicy(Protocol):
    name: str

    def reset(self) -> None: ...

    def residuals(self, records: np.ndarray) -> Mapping[str, np.ndarray]: ...


def zeros(n: int) -> dict[str, np.ndarray]:
    return {
        "res_log2_mult": np.zeros((n, 2), np.int64),
        "res_step_us": np.zeros(n, np.int64),
        "res_log2_target": np.zeros(n, np.int64),
    }


def q8(log2: float) -> int:
    """A log2 scale as the ring's Q8 fixed point (1.0 -> 256: x2)."""
    return int(round(log2 * layout.RES_Q8_ONE))


class FallbackResidual:
    """Zero residuals for every queue: exactly the fallback AQM."""

    name = "fallback"

    def describe(self) -> dict[str, Any]:
        return {"name": self.name}

    def reset(self) -> None:
        pass

    def residuals(self, records: np.ndarray) -> dict[str, np.ndarray]:
        return zeros(len(records))


class ConstantResidual:
    """One residual for every queue and interval (log2 scales, step in us)."""

    def __init__(
        self, target: float = 0.0, mult_c: float = 0.0, mult_l: float = 0.0, step_us: int = 0
    ) -> None:
        values = {"target": target, "mult_c": mult_c, "mult_l": mult_l}
        bad = [k for k, v in values.items() if not np.isfinite(v)]
        if bad:
            raise PolicyError(f"constant residual: {bad[0]} is not a finite number")
        self.target, self.mult_c, self.mult_l, self.step_us = target, mult_c, mult_l, int(step_us)
        self.name = "constant(" + ",".join(f"{k}={v:+g}" for k, v in self._knobs().items()) + ")"

    def _knobs(self) -> dict[str, float]:
        knobs = {"target": self.target, "c": self.mult_c, "l": self.mult_l, "step": self.step_us}
        return {k: v for k, v in knobs.items() if v} or {"zero": 0}

    def describe(self) -> dict[str, Any]:
        return {
            "name": "constant",
            "target": self.target,
            "mult_c": self.mult_c,
            "mult_l": self.mult_l,
            "step_us": self.step_us,
        }

    def reset(self) -> None:
        pass

    def residuals(self, records: np.ndarray) -> dict[str, np.ndarray]:
        out = zeros(len(records))
        out["res_log2_mult"][:, layout.CLASS_C] = q8(self.mult_c)
        out["res_log2_mult"][:, layout.CLASS_L] = q8(self.mult_l)
        out["res_step_us"][:] = self.step_us
        out["res_log2_target"][:] = q8(self.target)
        return out


class LevelPolicy:
    """Issue 16's policies (level indices per knob) as residuals.

    ``table``: per knob (``KNOBS`` order) its level values -- log2 scales for
    target and multipliers, microseconds for the step -- level 0 being 0 (the
    fallback's own setting); what ``models.rl.levels.table()`` returns.
    """

    def __init__(self, inner: Any, table: Mapping[str, Mapping[str, Sequence[float]]]) -> None:
        if not callable(getattr(inner, "act", None)):
            raise PolicyError(f"{getattr(inner, 'name', inner)!s} has no act(records)")
        missing = [k for k in KNOBS if k not in table]
        if missing:
            raise PolicyError(f"level table: no knob {missing[0]!r}")
        self.inner = inner
        self.name = str(getattr(inner, "name", "levels"))
        self.values = [np.asarray(table[k]["levels"], np.float64) for k in KNOBS]
        # (records, levels) of every round once start_trace() is called: what a
        # closed-loop collection turns into pool episodes
        self.trace: list[tuple[np.ndarray, np.ndarray]] | None = None

    def start_trace(self) -> None:
        self.trace = []

    def describe(self) -> dict[str, Any]:
        describe = getattr(self.inner, "describe", None)
        return describe() if callable(describe) else {"name": self.name}

    def reset(self) -> None:
        self.inner.reset()

    def bind_history(self, history: Any) -> None:
        bind = getattr(self.inner, "bind_history", None)
        if callable(bind):
            bind(history)

    def residuals(self, records: np.ndarray) -> dict[str, np.ndarray]:
        acts = np.asarray(self.inner.act(records))
        if acts.shape != (len(records), len(KNOBS)) or acts.dtype.kind not in "iu":
            raise PolicyError(
                f"{self.name}: act() returned {acts.shape} {acts.dtype},"
                f" expected ({len(records)}, {len(KNOBS)}) level indices"
            )
        for k, values in enumerate(self.values):
            if len(acts) and (acts[:, k].min() < 0 or acts[:, k].max() >= len(values)):
                raise PolicyError(
                    f"{self.name}: knob {KNOBS[k]} level outside 0..{len(values) - 1}"
                )
        if self.trace is not None:
            self.trace.append((records.copy(), acts.astype(np.uint8)))
        value = [v[acts[:, k]] for k, v in enumerate(self.values)]
        out = zeros(len(records))
        out["res_log2_target"][:] = np.round(value[0] * layout.RES_Q8_ONE)
        out["res_log2_mult"][:, layout.CLASS_C] = np.round(value[1] * layout.RES_Q8_ONE)
        out["res_log2_mult"][:, layout.CLASS_L] = np.round(value[2] * layout.RES_Q8_ONE)
        out["res_step_us"][:] = np.round(value[3])
        return out


def check_residuals(answer: object, n: int, name: str) -> dict[str, np.ndarray]:
    """Refuse anything but n finite residuals in the verdict's fields (as int64)."""
    if not isinstance(answer, Mapping):
        raise PolicyError(f"{name}: residuals() returned {type(answer).__name__}, not a mapping")
    shapes = {"res_log2_mult": (n, 2), "res_step_us": (n,), "res_log2_target": (n,)}
    out: dict[str, np.ndarray] = {}
    for key, shape in shapes.items():
        if key not in answer:
            raise PolicyError(f"{name}: residuals() lacks {key!r}")
        arr = np.asarray(answer[key])
        if arr.shape != shape:
            raise PolicyError(f"{name}: {key} has shape {arr.shape}, expected {shape}")
        if arr.dtype.kind not in "iuf":
            raise PolicyError(f"{name}: {key} is {arr.dtype}, not numbers")
        if arr.dtype.kind == "f" and not np.isfinite(arr).all():
            raise PolicyError(f"{name}: {key} holds NaN or infinite values")
        out[key] = np.clip(np.round(arr), -(2**31), 2**31 - 1).astype(np.int64)
    return out


def make_interval_policy(cfg: Any) -> IntervalPolicy:
    """The [interval] table's policy (a daemon Config)."""
    kind = cfg["interval.policy"]
    if kind == "fallback":
        return FallbackResidual()
    if kind == "constant":
        return ConstantResidual(
            cfg["interval.target"], cfg["interval.mult_c"], cfg["interval.mult_l"],
            cfg["interval.step_us"],
        )  # fmt: skip
    if kind == "model":
        return load_model(cfg["interval.model"])
    raise PolicyError(f"unknown interval policy {kind!r}")


def load_model(path: str) -> IntervalPolicy:
    """An interval checkpoint, its files verified, that passed the load-time probe
    (:mod:`aqmllm.models.interval_probe`)."""
    try:
        from aqmllm.models import interval_probe, interval_runtime
    except ImportError as exc:
        raise PolicyError(f"model support is not installed: {exc}") from exc
    try:
        policy = interval_runtime.load_interval_policy(path)
    except interval_runtime.ModelError as exc:
        raise PolicyError(str(exc)) from exc
    except (OSError, ValueError) as exc:
        raise PolicyError(f"{path}: cannot load the interval model: {exc}") from exc
    try:
        interval_probe.probe_interval_policy(policy)
    except interval_runtime.ModelError as exc:
        raise PolicyError(f"{path}: refused by the load-time probe: {exc}") from exc
    return policy


def _model_spec(spec: str, path: str) -> IntervalPolicy:
    from pathlib import Path

    if not path:
        raise PolicyError(f"interval policy {spec!r}: model: needs the checkpoint's path")
    if not Path(path).exists():
        raise PolicyError(f"interval policy {spec!r}: no such checkpoint file or folder {path!r}")
    return load_model(path)


def _behaviour_spec(spec: str, args: str) -> LevelPolicy:
    try:
        from aqmllm.models.interval_runtime import ModelError
        from aqmllm.models.rl import levels
        from aqmllm.models.rl.behaviour_spec import make_behaviour
    except ImportError as exc:
        raise PolicyError(f"model support is not installed: {exc}") from exc
    try:
        return LevelPolicy(make_behaviour(args), levels.table())
    except (ValueError, OSError, ModelError) as exc:
        raise PolicyError(f"interval policy {spec!r}: {exc}") from None


def parse_spec(spec: str) -> IntervalPolicy:
    """``fallback``, ``constant:c=+1,l=-1,target=-1,step=2000`` (log2 scales, step in
    us), ``model:PATH`` (an interval checkpoint: its folder or manifest, loaded and
    probed as the daemon loads ``interval.model``) or ``behaviour:NAME,seed=S`` (a
    pool's behaviour policy, models/rl/behaviour_spec.py)."""
    kind, _, args = spec.partition(":")
    if kind == "fallback" and not args:
        return FallbackResidual()
    if kind == "model":
        return _model_spec(spec, args)
    if kind == "behaviour":
        return _behaviour_spec(spec, args)
    if kind != "constant":
        raise PolicyError(
            f"interval policy {spec!r}: fallback, constant:KNOB=VALUE,..., model:PATH"
            " or behaviour:NAME,seed=S"
        )
    names = {"c": "mult_c", "l": "mult_l", "target": "target", "step": "step_us"}
    knobs: dict[str, float] = {}
    for item in filter(None, args.split(",")):
        key, eq, value = item.partition("=")
        if not eq or key not in names:
            raise PolicyError(f"interval policy {spec!r}: knobs are c, l, target and step")
        try:
            knobs[names[key]] = float(value)
        except ValueError:
            raise PolicyError(
                f"interval policy {spec!r}: {key}={value!r} is not a number"
            ) from None
    step = knobs.pop("step_us", 0.0)
    if step != int(step) or not (step == 0 or 250 <= step <= 4000):
        raise PolicyError(f"interval policy {spec!r}: step is 0 or 250..4000 us")
    return ConstantResidual(**knobs, step_us=int(step))
