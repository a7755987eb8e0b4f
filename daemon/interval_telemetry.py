"""Telemetry of the interval loop: what it adds to aqmllmd's snapshot and to
the Prometheus text.

The snapshot's "interval" part: the loop's counts (rounds, residuals written,
nonzero, late, failures), decision latency and answer delay percentiles,
per queue the residual the kernel says is in effect (from the queue's
newest interval record) and the one last written, and the producer's
residual counters (accepted, clamped per knob, rejected per reason,
ignored, expired) and interval-record counters.  With a live teacher, its
rounds, late answers and failures.
"""

from __future__ import annotations

from typing import Any

PRODUCER_PREFIXES = ("res_", "ivl_")


def interval_snapshot(loop: Any, producer: dict[str, int]) -> dict[str, Any]:
    snap = loop.snapshot()
    snap["producer"] = {k: v for k, v in producer.items() if k.startswith(PRODUCER_PREFIXES)}
    live = getattr(loop.policy, "snapshot", None)
    if callable(live):
        snap["live_teacher"] = live()
    return snap


def _counter(lines: list[str], name: str, help_: str) -> None:
    lines.append(f"# HELP {name} {help_}")
    lines.append(f"# TYPE {name} counter")


def interval_prometheus(snap: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    for key, help_ in (
        ("rounds", "interval decisions (one policy call over every queue with a new record)"),
        ("residuals", "residual verdicts written"),
        ("nonzero", "residual verdicts written that change the fallback"),
        ("late", "residuals written after the interval they were for had ended"),
        ("failures", "interval policy failures (its residuals expire)"),
    ):
        _counter(lines, f"aqmllmd_interval_{key}_total", help_)
        lines.append(f"aqmllmd_interval_{key}_total {snap[key]}")
    lines += [
        "# HELP aqmllmd_interval_policy_on 1 while the interval policy decides",
        "# TYPE aqmllmd_interval_policy_on gauge",
        f"aqmllmd_interval_policy_on {0 if snap['policy'] == 'off' else 1}",
    ]
    lines.append("# TYPE aqmllmd_interval_latency_us gauge")
    for q, v in snap["decision_latency"].items():
        lines.append(f'aqmllmd_interval_latency_us{{quantile="{q[:-3]}"}} {v:.3f}')
    _counter(lines, "aqmllm_residual_total", "the producer's residual and interval counters")
    for name, v in snap["producer"].items():
        lines.append(f'aqmllm_residual_total{{counter="{name}"}} {v}')
    lines.append("# HELP aqmllmd_residual_in_effect the residual in effect per queue and knob")
    lines.append("# TYPE aqmllmd_residual_in_effect gauge")
    for q, e in snap["queues"].items():
        for knob, v in e["in_effect"].items():
            lines.append(f'aqmllmd_residual_in_effect{{queue="{q}",knob="{knob}"}} {v}')
    _counter(lines, "aqmllmd_residual_late_total", "late residuals per queue")
    for q, e in snap["queues"].items():
        lines.append(f'aqmllmd_residual_late_total{{queue="{q}"}} {e["late"]}')
    live = snap.get("live_teacher")
    if live:
        _counter(lines, "aqmllmd_live_teacher_rounds_total", "interval rounds by who decided")
        lines.append(f'aqmllmd_live_teacher_rounds_total{{by="teacher"}} {live["teacher_rounds"]}')
        lines.append(f'aqmllmd_live_teacher_rounds_total{{by="student"}} {live["student_rounds"]}')
        _counter(lines, "aqmllmd_live_teacher_late_total", "rounds the teacher was late for")
        lines.append(f"aqmllmd_live_teacher_late_total {live['late']}")
    return lines
