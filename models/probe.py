"""The load-time probe: does a model's answer make sense before it decides?

A checksum proves the weights are the ones that were sealed, not that they
are any good: a model re-sealed after a bad export, or trained into a
corner, would still drop every packet.  Before the daemon marks a model
ready it asks it about a fixed batch of canonical states -- an empty queue,
one at its delay target, one far past it, in overload -- for each ECN
codepoint, and refuses a model whose answer is not a distribution over the
valid actions, that signals most packets of an empty queue, or that does
not signal more under congestion than at rest (never signalling is "all
one action" too).  The probe reads the model from an empty history and
leaves its history and random state untouched.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from aqmllm.bridge import layout
from aqmllm.models.checkpoint import ModelError
from aqmllm.models.features import TARGET_NS

# (name, sojourn as a multiple of the class target, fallback probability, flags)
LEVELS = (
    ("empty", 0.0, 0.0, 0),
    ("light", 0.2, 0.0, 0),
    ("at-target", 1.0, 0.02, 0),
    ("congested", 4.0, 0.3, 0x03),
    ("overload", 20.0, 0.9, 0x07),
)
IDLE = ("empty", "light")
BUSY = ("congested", "overload")
ECNS = (layout.ECN_NOT_ECT, layout.ECN_ECT1, layout.ECN_ECT0)
LINK_KBPS = 100_000  # a 100 Mbit/s link
MIN_IDLE_PASS = 0.5  # an empty queue's packets pass at least this often
MIN_SIGNAL_RISE = 0.01  # congestion raises the mean signal probability at least this much


@dataclass(frozen=True)
class ProbeResult:
    idle_pass: float  # the lowest pass probability over the idle states
    idle_signal: float  # mean signal (drop + mark) probability, idle states
    busy_signal: float  # mean signal probability, congested and overloaded states


def canonical_states() -> tuple[np.ndarray, list[str]]:
    """One record per (level, ECN codepoint), each from its own queue."""
    rows = [(level, ecn) for level in LEVELS for ecn in ECNS]
    recs = np.zeros(len(rows), dtype=layout.RECORD_DTYPE)
    for i, ((_name, mult, prob, flags), ecn) in enumerate(rows):
        cls = layout.CLASS_L if ecn == layout.ECN_ECT1 else layout.CLASS_C
        sojourn = int(min(mult * TARGET_NS[cls], 2**32 - 1))
        pkts = int(sojourn * LINK_KBPS * 1000 / 8 / 1500 / 1e9)
        r = recs[i]
        r["seq"], r["t_ns"], r["queue_id"] = i + 1, 10**9 + i * 1000, i
        r["ecn"], r["cls"], r["pkt_len"], r["rate_kbps"] = ecn, cls, 1500, LINK_KBPS
        r["sojourn_ns"], r["est_wait_ns"] = sojourn, sojourn
        r["qlen_pkts"], r["qlen_bytes"] = pkts, pkts * 1500
        r["fb_prob"] = int(prob * (2**32 - 1))
        r["flags"] = flags
    return recs, [name for (name, *_), _ in rows]


def _probabilities(policy: Any, recs: np.ndarray) -> np.ndarray:
    fn = getattr(policy, "probabilities", None)
    if fn is None:
        raise ModelError(f"{_name(policy)}: has no probabilities() to probe")
    try:
        return np.asarray(fn(recs, fresh=True), dtype=np.float64)
    except ModelError:
        raise
    except Exception as exc:  # a broken model must be refused, not crash its loader
        raise ModelError(f"{_name(policy)}: fails on the probe batch: {exc}") from None


def _name(policy: Any) -> str:
    return str(getattr(policy, "name", type(policy).__name__))


def probe_policy(policy: Any) -> ProbeResult:
    """Raise ModelError naming the first thing wrong with the model's answers."""
    recs, levels = canonical_states()
    p = _probabilities(policy, recs)
    name = _name(policy)
    if p.shape != (len(recs), 3):
        raise ModelError(f"{name}: probe answer of shape {p.shape}, expected ({len(recs)}, 3)")
    if not np.isfinite(p).all():
        raise ModelError(f"{name}: NaN or infinite probabilities on the probe batch")
    if (p < -1e-6).any() or (p > 1 + 1e-6).any() or (np.abs(p.sum(axis=1) - 1) > 1e-3).any():
        raise ModelError(f"{name}: the probe answers are not probability distributions")
    not_ect = recs["ecn"] == layout.ECN_NOT_ECT
    if (p[not_ect, 2] > 1e-6).any():
        raise ModelError(f"{name}: would CE-mark Not-ECT packets (the mark is not masked)")
    lv = np.array(levels)
    idle, busy = np.isin(lv, IDLE), np.isin(lv, BUSY)
    signal = p[:, 1] + p[:, 2]
    result = ProbeResult(
        idle_pass=float(p[idle, 0].min()),
        idle_signal=float(signal[idle].mean()),
        busy_signal=float(signal[busy].mean()),
    )
    if result.idle_pass < MIN_IDLE_PASS:
        raise ModelError(
            f"{name}: signals {1 - result.idle_pass:.0%} of the packets of an empty queue"
            " (it would starve every flow); degenerate or corrupt weights"
        )
    if result.busy_signal < result.idle_signal + MIN_SIGNAL_RISE:
        raise ModelError(
            f"{name}: signals no more under congestion ({result.busy_signal:.3f}) than on an"
            f" empty queue ({result.idle_signal:.3f}); degenerate or corrupt weights"
        )
    return result
