"""What each of the packet path's ring counters means, for people and for Prometheus.

The counters themselves (names and slots) come from the C header through
:data:`aqmllm.bridge.layout.COUNTER_NAMES`; this table only explains them:
a sentence for ``aqmllmctl stats`` and aqmllmctl(8), and the Prometheus
series each one becomes (one metric with a label where several counters
are kinds of one thing, e.g. rejections by reason).  A counter the header
gains before this table knows it is still shown and exported, under its
own name.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from aqmllm.bridge import layout


@dataclass(frozen=True)
class CounterInfo:
    group: str  # how aqmllmctl stats groups them
    text: str  # one sentence
    metric: str  # Prometheus name without the aqmllm_ prefix and _total suffix
    labels: dict[str, str] = field(default_factory=dict)


COUNTERS: dict[str, CounterInfo] = {
    "records": CounterInfo(
        "records", "records the packet path wrote for the daemon", "ring_records"
    ),
    "overflows": CounterInfo(
        "records", "records lost because the record ring was full", "ring_overflows"
    ),
    "wakeups": CounterInfo("records", "daemon wakeups requested (one per batch)", "ring_wakeups"),
    "src_verdict": CounterInfo(
        "decided by",
        "packets decided by the daemon's per-packet verdict",
        "ring_decisions",
        {"source": "verdict"},
    ),
    "src_policy": CounterInfo(
        "decided by",
        "packets decided by a per-queue policy (the teacher's)",
        "ring_decisions",
        {"source": "policy"},
    ),
    "src_fallback": CounterInfo(
        "decided by",
        "packets decided by the fallback AQM (no verdict in time, or no daemon)",
        "ring_decisions",
        {"source": "fallback"},
    ),
    "stale_daemon": CounterInfo(
        "decided by",
        "packets left to the fallback because the daemon's heartbeat was too old",
        "ring_stale_heartbeat",
    ),
    "drops": CounterInfo("outcome", "packets dropped by decisions", "ring_drops"),
    "marks": CounterInfo("outcome", "packets CE-marked by decisions", "ring_marks"),
    "verdicts_in": CounterInfo(
        "verdicts", "verdict slots the packet path accepted", "ring_verdicts_accepted"
    ),
    "rej_kind": CounterInfo(
        "verdicts rejected",
        "verdicts of an unknown kind",
        "ring_verdicts_rejected",
        {"reason": "kind"},
    ),
    "rej_action": CounterInfo(
        "verdicts rejected",
        "verdicts with an invalid action code",
        "ring_verdicts_rejected",
        {"reason": "action"},
    ),
    "rej_seq": CounterInfo(
        "verdicts rejected",
        "verdicts for a sequence number never issued or too old",
        "ring_verdicts_rejected",
        {"reason": "seq"},
    ),
    "rej_dup": CounterInfo(
        "verdicts rejected",
        "a second verdict for one packet",
        "ring_verdicts_rejected",
        {"reason": "duplicate"},
    ),
    "rej_late": CounterInfo(
        "verdicts rejected",
        "verdicts that arrived after their packet had left",
        "ring_verdicts_rejected",
        {"reason": "late"},
    ),
    "rej_index": CounterInfo(
        "verdicts rejected",
        "daemon indices (rec_cons, vd_prod, ivl_cons) out of range, reset by the packet path",
        "ring_verdicts_rejected",
        {"reason": "index"},
    ),
    "rej_policy": CounterInfo(
        "verdicts rejected",
        "queue policies with a bad queue id, probability or expiry",
        "ring_verdicts_rejected",
        {"reason": "policy"},
    ),
    "mark_not_ect": CounterInfo(
        "guardrails",
        "marks asked for Not-ECT packets, passed instead",
        "ring_guardrails",
        {"guard": "mark_not_ect"},
    ),
    "guard_minq": CounterInfo(
        "guardrails",
        "drops refused because the queue held too few packets",
        "ring_guardrails",
        {"guard": "min_backlog"},
    ),
    "guard_ecn": CounterInfo(
        "guardrails",
        "drops of ECN-capable packets turned into CE marks (the fallback was not in overload)",
        "ring_guardrails",
        {"guard": "drop_to_mark"},
    ),
    # ---- the interval tier ----
    "ivl_records": CounterInfo(
        "intervals",
        "interval records the packet path wrote (one per queue per interval)",
        "ring_interval_records",
    ),
    "ivl_overflows": CounterInfo(
        "intervals",
        "interval records lost because the interval ring was full",
        "ring_interval_overflows",
    ),
    "res_accepted": CounterInfo(
        "residuals",
        "residual verdicts the packet path took (after clamping)",
        "ring_residuals_accepted",
    ),
    "res_ignored": CounterInfo(
        "residuals",
        "residual knobs the queue's fallback has no use for (CoDel's multipliers and step)",
        "ring_residual_knobs_ignored",
    ),
    "res_expired": CounterInfo(
        "residuals",
        "residuals that ended by expiry or because the daemon went away",
        "ring_residuals_expired",
    ),
    "res_clamp_mult_c": CounterInfo(
        "residuals clamped",
        "residuals whose Classic multiplier lay outside x1/8..x8",
        "ring_residuals_clamped",
        {"knob": "mult_c"},
    ),
    "res_clamp_mult_l": CounterInfo(
        "residuals clamped",
        "residuals whose L4S multiplier lay outside x1/8..x8",
        "ring_residuals_clamped",
        {"knob": "mult_l"},
    ),
    "res_clamp_step": CounterInfo(
        "residuals clamped",
        "residuals whose L4S step lay outside 250..4000 us",
        "ring_residuals_clamped",
        {"knob": "step"},
    ),
    "res_clamp_target": CounterInfo(
        "residuals clamped",
        "residuals whose target scale lay outside x1/4..x2",
        "ring_residuals_clamped",
        {"knob": "target"},
    ),
    "res_clamp_expiry": CounterInfo(
        "residuals clamped",
        "residuals whose expiry lay more than 1 s ahead",
        "ring_residuals_clamped",
        {"knob": "expiry"},
    ),
    "res_rej_seq": CounterInfo(
        "residuals rejected",
        "residuals for an interval record never issued or too old",
        "ring_residuals_rejected",
        {"reason": "seq"},
    ),
    "res_rej_stale": CounterInfo(
        "residuals rejected",
        "residuals not newer than the last one applied to their queue",
        "ring_residuals_rejected",
        {"reason": "stale"},
    ),
    "res_rej_queue": CounterInfo(
        "residuals rejected",
        "residuals naming another queue than their interval record's",
        "ring_residuals_rejected",
        {"reason": "queue"},
    ),
    "res_rej_field": CounterInfo(
        "residuals rejected",
        "residuals with a nonzero action or flags",
        "ring_residuals_rejected",
        {"reason": "field"},
    ),
}

GROUPS = (
    "records",
    "decided by",
    "outcome",
    "verdicts",
    "verdicts rejected",
    "guardrails",
    "intervals",
    "residuals",
    "residuals clamped",
    "residuals rejected",
)


def info(name: str) -> CounterInfo:
    """The description of a ring counter; a generic one for a counter this table lacks."""
    return COUNTERS.get(
        name,
        CounterInfo(
            "other", f"ring counter {name} (see kmod/include/aqmllm_ring.h)", f"ring_{name}"
        ),
    )


def ring_counter_names() -> list[str]:
    """Every counter the header defines, in slot order."""
    return sorted(layout.COUNTER_NAMES, key=layout.COUNTER_NAMES.__getitem__)
