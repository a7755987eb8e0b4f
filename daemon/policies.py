"""What decides in aqmllmd: built-in policies and the model adapter.

A policy maps a batch of ring records (numpy, RECORD_DTYPE) to one action
per record (uint8: 1 pass, 2 drop, 3 mark).  Built-ins need no model:
``pass`` answers every packet with PASS (the kernel's guardrails and
fallback still apply); ``fallback-echo`` repeats the fallback AQM's own
probability as explicit verdicts, which exercises the whole closed loop.
``model`` loads a trained student through :mod:`aqmllm.models.runtime`.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
from aqmllm.bridge import layout


class PolicyError(RuntimeError):
    """The policy cannot decide: model missing, corrupt, failing or NaN."""


class Policy(Protocol):
    name: str

    def decide(self, records: np.ndarray) -> np.ndarray: ...


class PassPolicy:
    name = "pass"

    def decide(self, records: np.ndarray) -> np.ndarray:
        return np.full(len(records), layout.ACT_PASS, dtype=np.uint8)


class FallbackEchoPolicy:
    """Signal with the fallback's own probability: mark ECN, drop Not-ECT."""

    name = "fallback-echo"

    def __init__(self, seed: int = 1) -> None:
        self._rng = np.random.default_rng(seed)

    def decide(self, records: np.ndarray) -> np.ndarray:
        p = records["fb_prob"].astype(np.float64) / 2.0**32
        hit = self._rng.random(len(records)) < p
        flags = records["flags"]
        hit |= (flags & layout.RF_FB_SIGNAL) != 0  # the fallback already decided to signal
        ect = records["ecn"] != layout.ECN_NOT_ECT
        out = np.full(len(records), layout.ACT_PASS, dtype=np.uint8)
        out[hit & ect] = layout.ACT_MARK
        out[hit & ~ect] = layout.ACT_DROP
        return out


class ModelPolicy:
    """A trained student (or teacher) from a checkpoint.

    Ready only once its files match their seals and its answers on the
    probe batch make sense (:mod:`aqmllm.models.probe`).
    """

    def __init__(self, path: str) -> None:
        try:
            from aqmllm.models import probe, runtime
        except ImportError as exc:
            raise PolicyError(f"model support is not installed: {exc}") from exc
        try:
            self._model = runtime.load_policy(path)
        except runtime.ModelError as exc:
            raise PolicyError(str(exc)) from exc
        except (OSError, ValueError) as exc:
            raise PolicyError(f"{path}: cannot load model: {exc}") from exc
        try:
            probe.probe_policy(self._model)
        except runtime.ModelError as exc:
            raise PolicyError(f"{path}: refused by the load-time probe: {exc}") from exc
        self.name = f"model:{getattr(self._model, 'name', path)}"
        self.model_name = str(getattr(self._model, "name", path))

    def decide(self, records: np.ndarray) -> np.ndarray:
        return self._model.decide(records)

    def queue_policies(self, records: np.ndarray) -> dict[int, tuple[float, float]]:
        fn = getattr(self._model, "queue_policies", None)
        if fn is None:
            raise PolicyError(f"{self.name} does not produce per-queue policies")
        return fn(records)


def make_policy(kind: str, model_path: str = "") -> Policy:
    if kind == "pass":
        return PassPolicy()
    if kind == "fallback-echo":
        return FallbackEchoPolicy()
    if kind == "model":
        return ModelPolicy(model_path)
    raise PolicyError(f"unknown policy {kind!r}")


def check_actions(actions: object, n: int, records: np.ndarray) -> np.ndarray:
    """Refuse anything but n valid actions; never mark a Not-ECT packet."""
    arr = np.asarray(actions)
    if arr.shape != (n,):
        raise PolicyError(f"policy returned shape {arr.shape}, expected ({n},)")
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise PolicyError("policy returned NaN or infinite actions")
    arr = arr.astype(np.uint8, copy=False)
    if n and (arr.min() < layout.ACT_PASS or arr.max() > layout.ACT_MARK):
        raise PolicyError(f"policy returned action codes outside 1..3: {np.unique(arr)}")
    bad_mark = (arr == layout.ACT_MARK) & (records["ecn"] == layout.ECN_NOT_ECT)
    if bad_mark.any():
        arr = arr.copy()
        arr[bad_mark] = layout.ACT_PASS
    return arr
