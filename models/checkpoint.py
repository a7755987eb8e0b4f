"""Checkpoints: safetensors weights plus a JSON manifest.

The manifest records the kind of model, its architecture, the feature
schema (and its fingerprint), what it was trained on and how well it did.
Loading refuses a manifest whose schema or ring ABI differs from this
build's, with an error that says which, and one trained for the other
decision tier (its ``mode``: "packet", the default, or "interval"; see
models/interval_runtime.py) by name.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from aqmllm.bridge import layout
from aqmllm.models.features import schema_dict, schema_id
from safetensors.numpy import load_file, save_file

MANIFEST = "manifest.json"


class ModelError(RuntimeError):
    """A model file is missing, corrupt, or built for another schema or ABI."""


def save_checkpoint(
    folder: str | Path,
    kind: str,
    tensors: dict[str, np.ndarray],
    architecture: dict[str, Any],
    training: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
) -> Path:
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    save_file({k: np.ascontiguousarray(v) for k, v in tensors.items()}, out / "weights.safetensors")
    manifest = {
        "kind": kind,
        "format": 1,
        "schema": schema_dict(),
        "schema_id": schema_id(),
        "architecture": architecture,
        "training": training or {},
        "metrics": metrics or {},
        "weights": "weights.safetensors",
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return out / MANIFEST


MODES = ("packet", "interval")


def model_mode(manifest: dict[str, Any]) -> str:
    """The tier a model was trained for; manifests before the interval tier are per packet."""
    return str(manifest.get("mode", "packet"))


def check_mode(manifest: dict[str, Any], wanted: str, where: Path) -> None:
    got = model_mode(manifest)
    if got != wanted:
        use = {"packet": "inference.model", "interval": "interval.model or teacher.model (live)"}
        raise ModelError(
            f"{where}: a model for the {got} tier (mode {got!r}, kind"
            f" {manifest.get('kind')!r}); this needs a {wanted} model (mode {wanted!r})"
            + (f" -- load it as {use[got]}" if got in use else "")
        )


def read_manifest(path: str | Path, mode: str = "packet") -> tuple[dict[str, Any], Path]:
    """The manifest of a model for ``mode``'s tier; another tier's is refused by name."""
    p = Path(path)
    if p.is_dir():
        p = p / MANIFEST
    if not p.exists():
        raise ModelError(f"{p}: no model manifest here")
    try:
        manifest = json.loads(p.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelError(f"{p}: manifest is not valid JSON: {exc}") from None
    if not isinstance(manifest, dict) or "kind" not in manifest or "schema" not in manifest:
        raise ModelError(f"{p}: not an aqmllm model manifest (no kind/schema)")
    check_mode(manifest, mode, p)
    schema = manifest["schema"] if isinstance(manifest["schema"], dict) else {}
    if schema.get("abi_version") != layout.ABI_VERSION:
        raise ModelError(
            f"{p}: model built for ring ABI {schema.get('abi_version')},"
            f" this build speaks {layout.ABI_VERSION}"
        )
    if mode == "interval":
        return manifest, p.parent  # its own schema: models/interval_runtime.py checks it
    if manifest.get("schema_id") != schema_id() or schema != schema_dict():
        raise ModelError(
            f"{p}: feature schema {manifest.get('schema_id')} (version"
            f" {schema.get('version')}) differs from this build's {schema_id()} (version"
            f" {schema_dict()['version']}); retrain or use a matching release"
        )
    return manifest, p.parent


def load_tensors(manifest: dict[str, Any], folder: Path) -> dict[str, np.ndarray]:
    path = folder / str(manifest.get("weights", "weights.safetensors"))
    if not path.exists():
        raise ModelError(f"{path}: weights file missing")
    try:
        tensors = load_file(str(path))
    except Exception as exc:  # safetensors raises its own error types
        raise ModelError(f"{path}: corrupt weights: {exc}") from None
    for name, t in tensors.items():
        if t.dtype.kind == "f" and not np.isfinite(t).all():
            raise ModelError(f"{path}: tensor {name} holds NaN or infinite values")
    return tensors
