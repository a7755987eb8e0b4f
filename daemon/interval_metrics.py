"""The interval tier's Prometheus series (``aqmllm_interval_*``, ``aqmllm_queue_residual_*``,
``aqmllm_live_teacher_*``), for :class:`aqmllm.daemon.metrics.DaemonCollector`.

Counted by the interval loop: records read, rounds (one policy call over
every queue with a new record), interval decisions (residuals written, by
whether they change the fallback), late residuals, model failures and
timeouts, fallback episodes of the interval policy and their seconds, the
model's latency and how long after its record's interval each residual
was written (histograms).  Per queue, the residual the kernel says is in
effect (from the queue's newest interval record) as gauges in natural
units -- log2 scales, the step in seconds -- and its late residuals.  The
packet path's own residual counters (accepted, clamped by knob, rejected
by reason, expired) are ``aqmllm_ring_*`` series, named in
:mod:`aqmllm.bridge.counters`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from aqmllm.bridge import layout
from aqmllm.daemon.families import PREFIX, histogram, labelled_counter
from aqmllm.daemon.families import counter as _counter
from aqmllm.daemon.families import gauge as _gauge
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric


def interval_metrics(loop: Any) -> Iterator[Metric]:
    s = loop.stats
    yield _gauge(
        "interval_policy_on",
        "1 while the interval policy decides, 0 while it is off (the queues' residuals expire)",
        0 if loop.policy is None else 1,
    )
    yield _counter("interval_records", "interval records the daemon read from the ring", s.records)
    yield _counter(
        "interval_rounds",
        "interval policy calls (one over every queue with a new interval record)",
        s.rounds,
    )
    yield labelled_counter(
        "interval_decisions",
        "residual verdicts written, one per queue per interval, by whether they change the"
        " fallback (zero: the fallback exactly)",
        "residual",
        {"zero": s.residuals - s.nonzero, "nonzero": s.nonzero},
    )
    yield _counter(
        "interval_residuals_late",
        "residuals written after the interval that follows their record had ended",
        s.late,
    )
    yield _counter(
        "interval_residuals_no_space",
        "residuals not written because the verdict ring was full",
        s.no_space,
    )
    yield _counter(
        "interval_policy_off_records",
        "interval records that arrived while the interval policy was off",
        s.off_records,
    )
    yield labelled_counter(
        "interval_records_flagged",
        "interval records spanning idle intervals (gap) or following a lost one (after_loss)",
        "flag",
        {"gap": s.gaps, "after_loss": s.lost_before},
    )
    yield _counter(
        "interval_model_failures",
        "times the interval policy failed (load, probe, exception, bad output, timeout) and"
        " went off",
        s.failures,
    )
    yield _counter(
        "interval_model_timeouts",
        "interval decisions slower than interval.model_timeout_ms",
        s.timeouts,
    )
    yield _counter(
        "interval_fallback_episodes",
        "stretches during which the interval policy was off and the bare fallback ran",
        loop.slot.episodes,
    )
    yield _counter(
        "interval_fallback_seconds",
        "seconds the interval policy was off, the current stretch included",
        loop.slot.off_seconds(),
    )
    yield _counter(
        "interval_ring_resyncs",
        "times the interval loop skipped to the producer's interval index",
        s.resyncs,
    )
    yield histogram(
        "interval_model_latency_seconds",
        "time of one interval decision (one policy call over every queue)",
        {"": s.latency},
        None,
    )
    yield histogram(
        "interval_answer_delay_seconds",
        "producer time from the end of a record's interval to its residual being written,"
        " sampled: up to 64 residuals a round",
        {"": s.answer_delay},
        None,
    )
    yield from _queues(loop.queues)
    live = getattr(loop.policy, "snapshot", None)
    if callable(live):
        yield from _live_teacher(loop.policy)


def _queues(q: Any) -> Iterator[Metric]:
    one = float(layout.RES_Q8_ONE)
    mult = GaugeMetricFamily(
        PREFIX + "queue_residual_log2_multiplier",
        "the residual in effect per queue (its newest interval record): log2 of the multiplier"
        " on the class's signal probability (0: the fallback's own)",
        labels=["queue", "class"],
    )
    step = GaugeMetricFamily(
        PREFIX + "queue_residual_step_seconds",
        "the residual in effect per queue: DualPI2's L4S step (0: the configured one)",
        labels=["queue"],
    )
    target = GaugeMetricFamily(
        PREFIX + "queue_residual_log2_target",
        "the residual in effect per queue: log2 of the scale on the classic delay target",
        labels=["queue"],
    )
    late = CounterMetricFamily(
        PREFIX + "queue_residuals_late",
        "residuals written late, per queue",
        labels=["queue"],
    )
    for name, e in q.snapshot().items():
        now = e["in_effect"]
        mult.add_metric([name, "C"], now["log2_mult_c_q8"] / one)
        mult.add_metric([name, "L"], now["log2_mult_l_q8"] / one)
        step.add_metric([name], now["step_us"] / 1e6)
        target.add_metric([name], now["log2_target_q8"] / one)
        late.add_metric([name], e["late"])
    yield mult
    yield step
    yield target
    yield late


def _live_teacher(live: Any) -> Iterator[Metric]:
    yield _gauge(
        "live_teacher_up", "1 while the live teacher is loaded", 0 if live.teacher is None else 1
    )
    yield labelled_counter(
        "live_teacher_rounds",
        "interval rounds by who decided: the teacher, or the interval policy when it was late",
        "by",
        {"teacher": live.teacher_rounds, "student": live.student_rounds},
    )
    yield _counter("live_teacher_late", "rounds the live teacher was late for", live.late)
    yield _counter("live_teacher_failures", "live teacher load or round failures", live.failures)
    yield _gauge(
        "live_teacher_latency_seconds", "time of the live teacher's last answer", live.latency_s
    )
