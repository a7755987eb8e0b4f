"""Writing interval-tier checkpoints (models/interval_runtime.py reads them): a
sealed manifest with mode "interval", the feature schema, the state shape, the
residual levels or continuous outputs, and which fallbacks take which knob.

Its own module so that a model family (the interval teacher of models/rl) can
save without importing the runtime that loads it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from aqmllm.bridge import layout
from aqmllm.models.checkpoint import write_checkpoint


def save_interval_checkpoint(
    folder: str | Path,
    kind: str,
    tensors: dict[str, np.ndarray],
    features: str,
    state_shape: tuple[int, int],
    levels: dict[str, dict[str, Any]] | None,
    usable: dict[str, list[str]],
    architecture: dict[str, Any] | None = None,
    training: dict[str, Any] | None = None,
    outputs: dict[str, list[float]] | None = None,
) -> Path:
    """Write weights and a sealed manifest (format 2: digest, size and tensor table);
    ``levels`` for a student answering with levels, ``outputs`` for one answering
    with values."""
    if (levels is None) == (outputs is None):
        raise ValueError("an interval checkpoint has either levels or outputs")
    table: dict[str, Any] = {"features": features, "state_shape": list(state_shape)}
    table.update({"levels": levels} if levels is not None else {"outputs": outputs})
    table["usable"] = usable
    manifest = {
        "kind": kind,
        "mode": "interval",
        "schema": {"abi_version": layout.ABI_VERSION, "features": features},
        "interval": table,
        "architecture": architecture or {},
        "training": training or {},
    }
    return write_checkpoint(folder, tensors, manifest)
