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
        "daemon indices (rec_cons, vd_prod) out of range, reset by the packet path",
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
}

GROUPS = ("records", "decided by", "outcome", "verdicts", "verdicts rejected", "guardrails")


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
