"""The load-time probe of an interval-tier model: does its answer make sense?

As :mod:`aqmllm.models.probe` does for per-packet models: a sealed
checkpoint can still hold weights exported badly or trained into a
corner.  Before the daemon lets an interval model steer a queue it feeds
it, from an empty history of its own, a window of canonical interval
records for each fallback (DualPI2, PIE, CoDel) at each load -- an idle
queue, a light one, one at its delay target, one far past it, one in
overload -- and refuses a model that

  - answers with the wrong shape, or NaN / infinite values;
  - asks for a residual outside the kernel's bounds (its level table is
    not one the packet path can apply: it would be clamped);
  - is degenerate: the same residual, other than zero, whatever the load,
    for every fallback -- a constant is a setting (``interval.policy =
    "constant"``), not a model, and is what dead or corrupt weights give.

Zero everywhere is accepted: it is exactly the fallback.  The model's
own history is left as it was.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from aqmllm.bridge import layout
from aqmllm.models.checkpoint import ModelError

INTERVAL_NS = 16_000_000
LINK_KBPS = 100_000  # a 100 Mbit/s link
UNNAMED_TARGET_NS = 15_000_000  # a fallback whose parameters name no target


# Each fallback's default classic delay target, from the core's defaults.
TARGET_NS = {name: t or UNNAMED_TARGET_NS for name, t in layout.DEFAULT_TARGET_NS.items()}
L_TARGET_NS = 1_000_000
# (name, delay as a multiple of the target, busy fraction, arrivals over capacity,
#  the fallback's probability, overload)
LOADS = (
    ("idle", 0.0, 0.0, 0.0, 0.0, False),
    ("light", 0.1, 0.3, 0.3, 0.0, False),
    ("at-target", 1.0, 1.0, 1.0, 0.02, False),
    ("congested", 4.0, 1.0, 1.5, 0.3, False),
    ("overload", 20.0, 1.0, 4.0, 0.9, True),
)
FIELDS = ("res_log2_mult", "res_step_us", "res_log2_target")


@dataclass(frozen=True)
class IntervalProbeResult:
    states: int  # canonical queue states asked
    nonzero: int  # ... answered with a residual other than zero
    distinct: int  # distinct answers over all of them


def _fill(r: np.ndarray, fb: str, load: tuple, seq: int, t_ns: int) -> None:
    _name, mult, busy, offered, prob, overload = load
    target = TARGET_NS[fb]
    bytes_per_ivl = LINK_KBPS * 1000 / 8 * INTERVAL_NS / 1e9
    r["seq"], r["t_ns"] = seq, t_ns
    r["interval_ns"], r["busy_ns"] = INTERVAL_NS, int(busy * INTERVAL_NS)
    r["rate_kbps"], r["fb_id"] = LINK_KBPS, layout.FALLBACKS[fb]
    r["flags"] = layout.INTERVAL_FLAGS["overload"] if overload else 0
    r["fb_state"][:] = int(prob * (2**32 - 1))
    r["target_ns"] = target
    for cls, delay in ((layout.CLASS_C, mult * target), (layout.CLASS_L, mult * L_TARGET_NS)):
        c = r["cls"][cls]
        share = 0.5 * min(busy, 1.0)
        dep = int(share * bytes_per_ivl)
        arr = int(0.5 * offered * bytes_per_ivl)
        c["arr_bytes"], c["arr_pkts"] = arr, arr // 1500
        c["dep_bytes"], c["dep_pkts"] = dep, dep // 1500
        c["sojourn_mean_ns"] = int(min(delay, 2**32 - 1))
        c["sojourn_max_ns"] = int(min(2 * delay, 2**32 - 1))
        backlog = int(delay * LINK_KBPS * 1000 / 8 / 1e9 / 1500)
        c["backlog_pkts"], c["backlog_bytes"] = backlog, backlog * 1500
        c["drop_enq"] = int(prob * c["arr_pkts"]) if cls == layout.CLASS_C else 0
        c["marks"] = int(prob * c["dep_pkts"])
        c["ecn"][layout.ECN_ECT1 if cls == layout.CLASS_L else layout.ECN_ECT0] = c["arr_pkts"]


def canonical_windows(window: int) -> tuple[np.ndarray, list[tuple[str, str]]]:
    """``window`` records per (fallback, load), each pair its own queue, in ring order."""
    pairs = [(fb, load) for fb in TARGET_NS for load in LOADS]
    recs = np.zeros(window * len(pairs), dtype=layout.INTERVAL_DTYPE)
    for w in range(window):
        for q, (fb, load) in enumerate(pairs):
            i = w * len(pairs) + q
            _fill(recs[i], fb, load, seq=i + 1, t_ns=10**9 + (w + 1) * INTERVAL_NS)
            recs[i]["queue_id"] = q
    return recs, [(fb, load[0]) for fb, load in pairs]


def _answer(policy: Any, window: int) -> tuple[dict[str, np.ndarray], list[tuple[str, str]]]:
    from aqmllm.models.interval_history import IntervalHistory

    recs, names = canonical_windows(window)
    latest = recs[-len(names) :]
    saved = getattr(policy, "history", None)
    bind = getattr(policy, "bind_history", None)
    try:
        if callable(bind):
            history = IntervalHistory(window)
            bind(history)
            history.update(recs)
        out = policy.residuals(latest)
    except ModelError:
        raise
    except Exception as exc:  # a broken model must be refused, not crash its loader
        raise ModelError(f"{_name(policy)}: fails on the probe states: {exc}") from None
    finally:
        if callable(bind) and hasattr(policy, "history"):
            policy.history = saved
    return out, names


def _name(policy: Any) -> str:
    return str(getattr(policy, "name", type(policy).__name__))


def _checked(policy: Any, out: Any, n: int) -> np.ndarray:
    """(n, 4): C multiplier, L multiplier, step, target; ModelError on nonsense."""
    name = _name(policy)
    shapes = {"res_log2_mult": (n, 2), "res_step_us": (n,), "res_log2_target": (n,)}
    cols = []
    for key, shape in shapes.items():
        v = np.asarray(out.get(key) if isinstance(out, dict) else None, dtype=np.float64)
        if v.shape != shape:
            raise ModelError(f"{name}: probe answer {key} of shape {v.shape}, expected {shape}")
        if not np.isfinite(v).all():
            raise ModelError(f"{name}: NaN or infinite {key} on the probe states")
        cols.append(v.reshape(n, -1))
    res = np.concatenate(cols, axis=1)
    mult, step, target = res[:, :2], res[:, 2], res[:, 3]
    if (mult < layout.RES_MULT_MIN).any() or (mult > layout.RES_MULT_MAX).any():
        raise ModelError(
            f"{name}: asks for multipliers outside x1/8..x8 (Q8 log2"
            f" {layout.RES_MULT_MIN}..{layout.RES_MULT_MAX}); its level table is not the kernel's"
        )
    if (target < layout.RES_TARGET_MIN).any() or (target > layout.RES_TARGET_MAX).any():
        raise ModelError(f"{name}: asks for a target scale outside x1/4..x2")
    if ((step != 0) & ((step < layout.RES_STEP_MIN_US) | (step > layout.RES_STEP_MAX_US))).any():
        raise ModelError(f"{name}: asks for an L step outside 250..4000 us")
    return res


def probe_interval_policy(policy: Any) -> IntervalProbeResult:
    """Raise ModelError naming the first thing wrong with an interval model's answers."""
    window = int(getattr(policy, "window", 1))
    out, names = _answer(policy, window)
    res = _checked(policy, out, len(names))
    nonzero = (res != 0).any(axis=1)
    fbs = np.array([fb for fb, _ in names])
    constant = all(len(np.unique(res[fbs == fb], axis=0)) == 1 for fb in TARGET_NS)
    if constant and nonzero.any():
        raise ModelError(
            f"{_name(policy)}: answers the same residual {res[0].astype(int).tolist()} whatever"
            " the load (idle to overload); degenerate or corrupt weights"
        )
    return IntervalProbeResult(
        states=len(names),
        nonzero=int(nonzero.sum()),
        distinct=len(np.unique(res, axis=0)),
    )
