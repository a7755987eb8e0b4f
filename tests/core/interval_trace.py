"""A long, deterministic packet trace through the C core, bare or with a
ring whose "daemon" answers every interval record: the driver of the
interval tier's bit-identity and accounting tests.

The link serves one packet at a time at RATE_BPS; arrivals are Poisson at
a rate that swings between 0.6 and 1.6 times the link's every 2 s, a mix
of L (ECT(1)), ECT(0) and Not-ECT, so every AQM signals, drops and idles.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from aqmllm.bridge._aqmcore import ffi, lib
from ring_harness import MS, Harness

RATE_BPS = 20_000_000
PKT = 1500
SERVICE_NS = PKT * 8 * 1_000_000_000 // RATE_BPS
STEP_NS = 100_000


def arrivals(seconds: float, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """(times ns, ECN codepoints) of every arrival."""
    rng = np.random.default_rng(seed)
    steps = int(seconds * 1e9 // STEP_NS)
    t = np.arange(steps) * STEP_NS
    load = 1.1 + 0.5 * np.sign(np.sin(2 * np.pi * t / 2e9))  # 0.6x / 1.6x
    per_step = RATE_BPS / (PKT * 8) * STEP_NS / 1e9 * load
    n = rng.poisson(per_step)
    times = np.repeat(t, n) + 1_000_000_000
    ecn = rng.choice(
        [lib.AQMLLM_ECN_ECT1, lib.AQMLLM_ECN_ECT0, lib.AQMLLM_ECN_NOT_ECT],
        size=len(times),
        p=[0.5, 0.25, 0.25],
    )
    return times.astype(np.int64), ecn.astype(np.uint8)


@dataclass
class Outcome:
    decisions: list[tuple[int, int, int]] = field(default_factory=list)  # (op, act, src)
    fb_state: bytes = b""
    rng_state: int = 0
    intervals: list = field(default_factory=list)  # copies of every interval record
    per_class: dict = field(default_factory=dict)  # totals the driver saw, per class


# A daemon: called at each step with (harness, new interval records).
Daemon = Callable[[Harness, list], None]


def run(
    fb: int,
    seconds: float = 20.0,
    daemon: Daemon | None = None,
    bare: bool = False,
    export: int = lib.AQMLLM_EXPORT_INTERVALS,
    nqueues: int = 2,
    keep_intervals: bool = False,
) -> Outcome:
    """The trace through queue 0; bare: no ring at all (the caller passes NULL)."""
    h = Harness(fb=fb, nqueues=nqueues, limit=200, rate_bps=RATE_BPS, ivl_entries=256)
    assert lib.aqm_ring_set_export(h.ring, export, 0) == 0
    ring = ffi.NULL if bare else h.ring
    if not bare:
        h.attach()
    q = h.queues[0]
    times, ecns = arrivals(seconds)
    out = Outcome()
    totals = {k: {"arr": 0, "dep": 0, "drop": 0, "mark": 0, "limit": 0} for k in (0, 1)}
    link_free = 0
    seen = 0
    i = 0
    end = int(times[-1]) + 50 * MS
    p = ffi.new("struct aqm_pkt *")
    o = ffi.new("struct aqm_pkt *")
    for now in range(int(times[0]), end, STEP_NS):
        h.now = now
        if not bare:
            h.heartbeat()
        while i < len(times) and times[i] <= now:
            p.len, p.ecn, p.flow_hash = PKT, int(ecns[i]), i
            act = lib.aqm_enqueue(q, ring, p, now)
            cls = p.cls
            totals[cls]["arr"] += 1
            if act == lib.AQMLLM_ACT_DROP:
                totals[cls]["limit" if p.src == lib.AQM_SRC_LIMIT else "drop"] += 1
            out.decisions.append((0, act, p.src))
            i += 1
        while link_free <= now:
            cls = lib.aqm_select(q, now)
            if cls < 0:
                link_free = now + STEP_NS
                break
            act = lib.aqm_dequeue(q, ring, cls, now, o)
            out.decisions.append((1, act, o.src))
            if act == lib.AQMLLM_ACT_DROP:
                totals[cls]["drop"] += 1
                continue
            totals[cls]["dep"] += 1
            totals[cls]["mark"] += act == lib.AQMLLM_ACT_MARK
            link_free = now + SERVICE_NS
        if not bare:
            prod = h.ring.ivl_prod
            new = [
                ffi.new("struct aqmllm_interval *", h.ring.ivls[s & (h.ivl_entries - 1)])
                for s in range(seen, prod)
            ]
            seen = prod
            h.hdr.ivl_cons = prod
            if keep_intervals:
                out.intervals += new
            if daemon is not None and new:
                daemon(h, new)
    out.fb_state = bytes(ffi.buffer(ffi.addressof(q, "fb")))
    out.rng_state = int(q.rng.s)
    out.per_class = totals
    out.harness = h  # type: ignore[attr-defined]
    return out


def zero_daemon(h: Harness, new: list) -> None:
    """Answers every record of queue 0 with the all-zero residual."""
    for iv in new:
        if iv.queue_id == 0:
            h.residual(iv.seq, 0, ttl_ns=4 * iv.interval_ns)


def withdrawn_daemon(h: Harness, new: list) -> None:
    """Strong residuals that have expired before the producer reads them."""
    for iv in new:
        if iv.queue_id != 0:
            continue
        if iv.seq % 2:
            h.residual(iv.seq, 0, 768, 768, 250, -512, expiry_ns=h.now - 1)
        else:
            h.residual(iv.seq, 0, -768, 768, 4000, 256, expiry_ns=h.now + 1)


def hostile_daemon(h: Harness, new: list) -> None:
    """Every residual the producer must reject, around one valid zero one."""
    strong = {"mult_c": 768, "mult_l": -768, "step_us": 250, "target": -512}
    for iv in new:
        if iv.queue_id != 0:
            continue
        s = iv.seq
        h.residual(s, 1, **strong)  # another queue's id for queue 0's record
        h.residual(s, 99, **strong)  # no such queue
        h.residual(0, 0, **strong)  # seq 0 is never issued
        h.residual(h.ring.ivl_prod + 5, 0, **strong)  # not issued yet
        h.residual(s, 0, action=1, **strong)
        h.residual(s, 0, flags=4, **strong)
        h.residual(s, 0)  # the valid one: zero
        h.residual(s, 0, **strong)  # the same seq again: stale
        if s > 1:
            h.residual(s - 1, 0, **strong)  # older than the last applied
