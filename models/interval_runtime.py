"""Loading an interval-tier model for the daemon: ``load_interval_policy(path)``.

An interval checkpoint is a safetensors file plus a JSON manifest, sealed
as the per-packet models' are (format 2: the file's SHA-256 and size, the
dtype and shape of every tensor), with ``"mode": "interval"`` and an
``interval`` table that says everything the daemon needs to run it:

    "kind": "interval-student" | "interval-teacher",
    "mode": "interval",
    "schema": {"abi_version": 2, ...},
    "interval": {
        "features": NAME,                 # models/interval_features.py
        "state_shape": [W, F],
        "levels": {knob: {"levels": [...], "unit": ...}},   # target, mult_c, mult_l, step;
                                          # level 0 = 0 = the fallback (issue 16's table())
        "usable": {fallback name: [knob, ...]}  # the others only take level 0
    }

or, for a student that answers with values rather than levels (issue 16's
CMA-ES policies), ``"outputs": {knob: [lo, hi], ...}`` in place of
``levels``: the MLP's output columns are those knobs' log2 scales in that
order, each clipped to its [lo, hi] (inside the kernel's bounds, 0 inside
the range); knobs not named stay 0.

The student is an MLP (``l{i}.weight`` in x out, ``l{i}.bias``, ReLU
between) run in numpy; the teacher needs issue 16's torch module
(``aqmllm.models.rl.teacher.load_interval_teacher(manifest, folder)``).
Either answers the daemon's interval-policy protocol
(:mod:`aqmllm.daemon.interval_policies`): the greedy level of each knob's
head, invalid levels masked, as residual fields.  A per-packet model given
here, or an interval model given to :func:`aqmllm.models.runtime.load_policy`,
is refused by name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from aqmllm.bridge import layout
from aqmllm.models.checkpoint import ModelError, load_tensors, read_manifest
from aqmllm.models.interval_checkpoint import save_interval_checkpoint
from aqmllm.models.interval_features import feature_fn

__all__ = ["ModelError", "IntervalModelPolicy", "load_interval_policy", "save_interval_checkpoint"]

KNOBS = ("target", "mult_c", "mult_l", "step")
# Bounds of each continuous knob (log2 scale), the kernel's clamps (aqmllm_ring.h).
_ONE = layout.RES_Q8_ONE
OUTPUT_BOUNDS = {
    "target": (layout.RES_TARGET_MIN / _ONE, layout.RES_TARGET_MAX / _ONE),
    "mult_c": (layout.RES_MULT_MIN / _ONE, layout.RES_MULT_MAX / _ONE),
    "mult_l": (layout.RES_MULT_MIN / _ONE, layout.RES_MULT_MAX / _ONE),
}
KINDS = ("interval-student", "interval-teacher")


def _spec(manifest: dict[str, Any], where: Path) -> dict[str, Any]:
    if manifest["kind"] not in KINDS:
        raise ModelError(f"{where}: unknown interval model kind {manifest['kind']!r}")
    abi = manifest["schema"].get("abi_version") if isinstance(manifest["schema"], dict) else None
    if abi != layout.ABI_VERSION:
        raise ModelError(
            f"{where}: model built for ring ABI {abi}, this build speaks {layout.ABI_VERSION}"
        )
    spec = manifest.get("interval")
    if not isinstance(spec, dict):
        raise ModelError(f"{where}: an interval model without its 'interval' table")
    continuous = "outputs" in spec
    for key in ("features", "state_shape", "outputs" if continuous else "levels", "usable"):
        if key not in spec:
            raise ModelError(f"{where}: interval table lacks {key!r}")
    if continuous:
        _check_outputs(spec["outputs"], where)
    levels = {} if continuous else spec["levels"]
    for k in () if continuous else KNOBS:
        values = levels.get(k, {}).get("levels") if isinstance(levels.get(k), dict) else None
        if not values or values[0] != 0:
            raise ModelError(
                f"{where}: knob {k!r} needs its levels, level 0 being 0 (the fallback)"
            )
    shape = spec["state_shape"]
    if not (isinstance(shape, list) and len(shape) == 2 and all(int(x) >= 1 for x in shape)):
        raise ModelError(f"{where}: state_shape {shape!r} is not [window, features]")
    bad = [f for f in spec["usable"] if f not in layout.FALLBACKS]
    if bad:
        raise ModelError(f"{where}: usable names an unknown fallback {bad[0]!r}")
    return spec


def _check_outputs(outputs: object, where: Path) -> None:
    if not isinstance(outputs, dict) or not outputs:
        raise ModelError(f"{where}: 'outputs' must map knobs to [lo, hi]")
    for knob, rng in outputs.items():
        if knob not in OUTPUT_BOUNDS:
            raise ModelError(
                f"{where}: output knob {knob!r} is not one of {', '.join(OUTPUT_BOUNDS)}"
            )
        lo_k, hi_k = OUTPUT_BOUNDS[knob]
        ok = isinstance(rng, list) and len(rng) == 2
        ok = ok and all(isinstance(v, int | float) and not isinstance(v, bool) for v in rng)
        if not ok or not (lo_k <= rng[0] <= 0 <= rng[1] <= hi_k):
            raise ModelError(
                f"{where}: output {knob!r} range {rng!r} is not [lo, hi] with"
                f" {lo_k:g} <= lo <= 0 <= hi <= {hi_k:g}"
            )


class IntervalModelPolicy:
    """An interval model behind the daemon's protocol: history -> states -> logits -> residuals."""

    def __init__(self, name: str, spec: dict[str, Any], forward: Any) -> None:
        self.name = name
        self.window, self.n_features = (int(x) for x in spec["state_shape"])
        self.feature_name = str(spec["features"])
        self.features, n = feature_fn(self.feature_name)
        if n != self.n_features:
            raise ModelError(
                f"{name}: schema {spec['features']!r} gives {n} features, the model takes"
                f" {self.n_features}"
            )
        # continuous students: (knob index, lo, hi) per output column
        self.outputs = [
            (KNOBS.index(k), float(r[0]), float(r[1])) for k, r in spec.get("outputs", {}).items()
        ]
        levels = spec.get("levels") if not self.outputs else {k: {"levels": [0]} for k in KNOBS}
        self.values = [np.asarray(levels[k]["levels"], np.float64) for k in KNOBS]
        self.sizes = [len(v) for v in self.values]
        self.offsets = np.cumsum([0, *self.sizes])[:-1]
        # usable[fb_id, knob]: whether a queue of that fallback takes the knob
        self.usable = np.zeros((max(layout.FALLBACKS.values()) + 1, len(KNOBS)), bool)
        for fb, knobs in spec["usable"].items():
            for k in knobs:
                self.usable[layout.FALLBACKS[fb], KNOBS.index(k)] = True
        self._forward = forward
        self.history: Any | None = None

    def bind_history(self, history: Any) -> None:
        if history.window_len < self.window:
            raise ModelError(
                f"{self.name}: needs {self.window} records per queue; interval.window is"
                f" {history.window_len}"
            )
        history.track(self.feature_name, self.features, self.n_features)
        self.history = history

    def reset(self) -> None:
        pass

    def states(self, records: np.ndarray) -> np.ndarray:
        """(Q, W, F): each queue's window of feature rows (computed as records arrived)."""
        if self.history is None:
            raise ModelError(f"{self.name}: no history bound (the daemon binds its own)")
        return self.history.features(self.feature_name, records["queue_id"], self.window)

    def _fallback_ids(self, records: np.ndarray) -> np.ndarray:
        return np.minimum(records["fb_id"].astype(np.int64), len(self.usable) - 1)

    def _outputs(self, records: np.ndarray, width: int, what: str) -> np.ndarray:
        """The model's (Q, width) answer for these records, refused if misshapen or not finite."""
        out = np.asarray(self._forward(self.states(records)), np.float32)
        if out.shape != (len(records), width):
            raise ModelError(f"{self.name}: {what} of shape {out.shape}")
        if not np.isfinite(out).all():
            raise ModelError(f"{self.name}: non-finite output")
        return out

    def values_of(self, records: np.ndarray) -> np.ndarray:
        """(Q, 4) log2 scales of a continuous student (step column 0), clipped, unusable 0."""
        out = self._outputs(records, len(self.outputs), "outputs")
        fb = self._fallback_ids(records)
        v = np.zeros((len(records), len(KNOBS)), np.float64)
        for col, (k, lo, hi) in enumerate(self.outputs):
            v[:, k] = np.where(self.usable[fb, k], np.clip(out[:, col], lo, hi), 0.0)
        return v

    def levels(self, records: np.ndarray) -> np.ndarray:
        """(Q, 4) greedy level indices, unusable knobs at level 0."""
        if self.outputs:
            raise ModelError(f"{self.name}: a continuous student has no levels")
        logits = self._outputs(records, sum(self.sizes), "logits")
        fb = self._fallback_ids(records)
        out = np.zeros((len(records), len(KNOBS)), np.int64)
        for k, (o, n) in enumerate(zip(self.offsets, self.sizes, strict=True)):
            pick = logits[:, o : o + n].argmax(axis=1)
            out[:, k] = np.where(self.usable[fb, k], pick, 0)
        return out

    def residuals(self, records: np.ndarray) -> dict[str, np.ndarray]:
        if self.outputs:
            values = self.values_of(records)
            v = [values[:, k] for k in range(len(KNOBS))]
        else:
            acts = self.levels(records)
            v = [self.values[k][acts[:, k]] for k in range(len(KNOBS))]
        one = layout.RES_Q8_ONE
        return {
            "res_log2_target": np.round(v[0] * one).astype(np.int64),
            "res_log2_mult": np.round(np.stack([v[1], v[2]], axis=1) * one).astype(np.int64),
            "res_step_us": np.round(v[3]).astype(np.int64),
        }


def mlp_forward(tensors: dict[str, np.ndarray]) -> Any:
    layers = []
    i = 0
    while f"l{i}.weight" in tensors:
        w = np.ascontiguousarray(tensors[f"l{i}.weight"], np.float32)
        b = np.ascontiguousarray(tensors.get(f"l{i}.bias", np.zeros(w.shape[1])), np.float32)
        if w.ndim != 2 or b.shape != (w.shape[1],):
            raise ModelError(f"layer {i}: weight {w.shape}, bias {b.shape}")
        if layers and layers[-1][0].shape[1] != w.shape[0]:
            raise ModelError(
                f"layer {i}: {w.shape[0]} inputs after {layers[-1][0].shape[1]} outputs"
            )
        layers.append((w, b))
        i += 1
    if not layers:
        raise ModelError("no l0.weight: not an MLP")

    def forward(states: np.ndarray) -> np.ndarray:
        h = states.reshape(len(states), -1)
        for j, (w, b) in enumerate(layers):
            h = h @ w + b
            if j < len(layers) - 1:
                np.maximum(h, 0, out=h)
        return h

    forward.n_in = layers[0][0].shape[0]  # type: ignore[attr-defined]
    return forward


def load_interval_policy(path: str | Path) -> IntervalModelPolicy:
    manifest, folder = read_manifest(path, mode="interval")
    spec = _spec(manifest, folder)
    name = str(manifest.get("training", {}).get("name", manifest["kind"]))
    if manifest["kind"] == "interval-student":
        forward = mlp_forward(load_tensors(manifest, folder))
        w, f = (int(x) for x in spec["state_shape"])
        if forward.n_in != w * f:
            raise ModelError(f"{folder}: the MLP takes {forward.n_in} inputs, state is {w}x{f}")
        return IntervalModelPolicy(name, spec, forward)
    try:
        from aqmllm.models.rl.teacher import load_interval_teacher  # issue 16
    except ImportError as exc:
        raise ModelError(
            f"{folder}: an interval teacher needs issue 16's models.rl.teacher"
            f" (load_interval_teacher), not in this build: {exc}"
        ) from None
    return IntervalModelPolicy(name, spec, load_interval_teacher(manifest, folder))
