"""Checkpoints: safetensors weights plus a JSON manifest.

The manifest records the kind of model, its architecture, the feature
schema (and its fingerprint), the decision tier it was trained for (its
``mode``: "packet", the default, or "interval"; see models/interval_runtime.py),
what it was trained on and how well it did, and -- so that a flipped byte or
a swapped file is caught before a model decides anything -- the SHA-256 and
size of every tensor file and the name, dtype and shape of every tensor in
it.  Loading refuses, with an error that says which, a model of the other
tier (by name), a manifest whose schema or ring ABI differs from this
build's, a file whose digest or size differs from the manifest's, a tensor
table that differs from the file's, and an architecture that contradicts the
tensors.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
from aqmllm.bridge import layout
from aqmllm.models.features import schema_dict, schema_id
from safetensors import SafetensorError
from safetensors.numpy import load, save_file

MANIFEST = "manifest.json"
FORMAT = 2  # 2: tensor files sealed with SHA-256 and a tensor table
WEIGHTS = "weights.safetensors"


class ModelError(RuntimeError):
    """A model file is missing, corrupt, or built for another schema or ABI."""


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def tensor_table(tensors: dict[str, np.ndarray]) -> dict[str, dict[str, Any]]:
    """name -> {dtype, shape}: what the manifest promises about each tensor."""
    return {
        name: {"dtype": np.asarray(t).dtype.str, "shape": list(np.shape(t))}
        for name, t in sorted(tensors.items())
    }


def _seal(manifest: dict[str, Any], folder: Path) -> None:
    """Record the digest, size and tensor table of the manifest's weights file."""
    name = str(manifest.get("weights", WEIGHTS))
    data = (folder / name).read_bytes()
    manifest["format"] = FORMAT
    manifest["files"] = {name: {"sha256": sha256_hex(data), "bytes": len(data)}}
    manifest["tensors"] = tensor_table(load(data))


_INT_LIST = re.compile(r"\[\s*((?:-?\d+,\s*)*-?\d+)\s*\]")


def _write_manifest(manifest: dict[str, Any], folder: Path) -> Path:
    path = folder / MANIFEST
    text = json.dumps(manifest, indent=2, sort_keys=True)
    # Shapes and widths on one line each, so a manifest stays readable.
    text = _INT_LIST.sub(lambda m: "[" + re.sub(r",\s*", ", ", m.group(1)) + "]", text)
    path.write_text(text + "\n")
    return path


def write_checkpoint(
    folder: str | Path, tensors: dict[str, np.ndarray], manifest: dict[str, Any]
) -> Path:
    """Weights and their manifest in ``folder``, sealed (format 2); the manifest's path."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    save_file({k: np.ascontiguousarray(v) for k, v in tensors.items()}, out / WEIGHTS)
    manifest = {**manifest, "weights": WEIGHTS}
    _seal(manifest, out)
    return _write_manifest(manifest, out)


def save_checkpoint(
    folder: str | Path,
    kind: str,
    tensors: dict[str, np.ndarray],
    architecture: dict[str, Any],
    training: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
) -> Path:
    """A per-packet model (mode "packet", this build's feature schema)."""
    manifest = {
        "kind": kind,
        "schema": schema_dict(),
        "schema_id": schema_id(),
        "architecture": architecture,
        "training": training or {},
        "metrics": metrics or {},
    }
    return write_checkpoint(folder, tensors, manifest)


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


def seal_checkpoint(path: str | Path) -> Path:
    """Re-seal a checkpoint whose files you trust (one of format 1, or re-exported).

    The schema and ABI checks still apply; only the digests and the tensor
    table are recomputed from the files as they are now.  Either tier's
    model can be sealed.
    """
    manifest, folder = read_manifest(path, mode=None, sealed=False)
    weights = folder / str(manifest.get("weights", WEIGHTS))
    if not weights.exists():
        raise ModelError(f"{weights}: weights file missing")
    try:
        _seal(manifest, folder)
    except SafetensorError as exc:
        raise ModelError(f"{weights}: not a safetensors file: {exc}") from None
    return _write_manifest(manifest, folder)


def read_manifest(
    path: str | Path, mode: str | None = "packet", sealed: bool = True
) -> tuple[dict[str, Any], Path]:
    """The manifest of a model for ``mode``'s tier (None: either); another tier's is
    refused by name, and (``sealed``) one without checksums of its tensor files."""
    p = Path(path)
    if p.is_dir():
        p = p / MANIFEST
    if not p.is_file():
        raise ModelError(f"{p}: no model manifest here")
    try:
        manifest = json.loads(p.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelError(f"{p}: manifest is not valid JSON: {exc}") from None
    except OSError as exc:
        raise ModelError(f"{p}: cannot read the manifest: {exc.strerror}") from None
    if not isinstance(manifest, dict) or "kind" not in manifest or "schema" not in manifest:
        raise ModelError(f"{p}: not an aqmllm model manifest (no kind/schema)")
    if mode is None:
        mode = model_mode(manifest)
    if mode not in MODES:
        raise ModelError(f"{p}: mode {mode!r} is none of {', '.join(MODES)}")
    check_mode(manifest, mode, p)
    schema = manifest["schema"] if isinstance(manifest["schema"], dict) else {}
    if schema.get("abi_version") != layout.ABI_VERSION:
        raise ModelError(
            f"{p}: model built for ring ABI {schema.get('abi_version')},"
            f" this build speaks {layout.ABI_VERSION}"
        )
    # An interval model has its own schema (models/interval_runtime.py checks it).
    if mode == "packet" and (manifest.get("schema_id") != schema_id() or schema != schema_dict()):
        raise ModelError(
            f"{p}: feature schema {manifest.get('schema_id')} (version"
            f" {schema.get('version')}) differs from this build's {schema_id()} (version"
            f" {schema_dict()['version']}); retrain or use a matching release"
        )
    if sealed and (manifest.get("format") != FORMAT or not isinstance(manifest.get("files"), dict)):
        raise ModelError(
            f"{p}: manifest format {manifest.get('format')} carries no checksums of its"
            f" tensor files (this build needs format {FORMAT}); if you trust the files,"
            f" seal them with `aqmllm model seal {p.parent}`"
        )
    return manifest, p.parent


def _check_table(path: Path, promised: Any, tensors: dict[str, np.ndarray]) -> None:
    if not isinstance(promised, dict):
        raise ModelError(f"{path}: the manifest has no tensor table")
    actual = tensor_table(tensors)
    missing = sorted(set(promised) - set(actual))
    extra = sorted(set(actual) - set(promised))
    if missing or extra:
        raise ModelError(
            f"{path}: tensors differ from the manifest's:"
            + (f" missing {', '.join(missing[:3])}" if missing else "")
            + (f" unexpected {', '.join(extra[:3])}" if extra else "")
        )
    for name, want in promised.items():
        have = actual[name]
        if not isinstance(want, dict) or [want.get("dtype"), want.get("shape")] != [
            have["dtype"],
            have["shape"],
        ]:
            raise ModelError(
                f"{path}: tensor {name} is {have['dtype']} {tuple(have['shape'])}, the manifest"
                f" says {want.get('dtype') if isinstance(want, dict) else want}"
                f" {tuple(want.get('shape', ())) if isinstance(want, dict) else ''}"
            )


def load_tensors(manifest: dict[str, Any], folder: Path) -> dict[str, np.ndarray]:
    """The weights, after their digest, size and tensor table match the manifest.

    The file is read once and parsed from the bytes that were hashed, so
    what is checked is what is loaded.
    """
    name = str(manifest.get("weights", WEIGHTS))
    path = folder / name
    if not path.is_file():
        raise ModelError(f"{path}: weights file missing")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelError(f"{path}: cannot read the weights: {exc.strerror}") from None
    seal = (manifest.get("files") or {}).get(name)
    if not isinstance(seal, dict) or "sha256" not in seal:
        raise ModelError(f"{path}: the manifest has no checksum for this file")
    if seal.get("bytes") != len(data):
        raise ModelError(
            f"{path}: {len(data)} bytes, the manifest says {seal.get('bytes')}:"
            " truncated or replaced"
        )
    digest = sha256_hex(data)
    if digest != seal["sha256"]:
        raise ModelError(
            f"{path}: SHA-256 {digest[:16]}… differs from the manifest's"
            f" {str(seal['sha256'])[:16]}…: the file is corrupt or not this model's"
        )
    try:
        tensors = load(data)
    except Exception as exc:  # safetensors raises its own error types
        raise ModelError(f"{path}: corrupt weights: {exc}") from None
    _check_table(path, manifest.get("tensors"), tensors)
    for tname, t in tensors.items():
        if t.dtype.kind == "f" and not np.isfinite(t).all():
            raise ModelError(f"{path}: tensor {tname} holds NaN or infinite values")
    return tensors
