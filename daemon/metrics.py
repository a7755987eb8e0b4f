"""aqmllmd's Prometheus metrics, through prometheus_client.

One prefix (``aqmllm_``), conventional names (``_total`` counters, seconds
everywhere, histograms for model latency and sojourn, ``aqmllm_build_info``
for version, ring ABI, model and mode) and HELP/TYPE on every series.  The
collector reads the running daemon at scrape time through ``view()`` --
whatever state is current after a reload -- so nothing is copied on the
hot path; the loop's own counters and histograms (:mod:`.stats`) are the
source.  The per-packet loop's series appear when it runs (``inference.mode``
packet or both), the interval loop's (:mod:`.interval_metrics`) when it
does (interval or both).  The packet path's counters, mirrored in the ring
header, become ``aqmllm_ring_*`` series, named and explained in
:mod:`aqmllm.bridge.counters`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from aqmllm.bridge import counters, layout
from aqmllm.daemon.families import PREFIX, gauge, histogram, labelled_counter
from aqmllm.daemon.families import counter as _counter
from aqmllm.daemon.interval_metrics import interval_metrics
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

import aqmllm


class DaemonCollector(Collector):
    """``view()`` returns the running daemon: ``.loop``, ``.interval``, ``.teacher``, ``.mode``."""

    def __init__(self, view: Callable[[], Any]) -> None:
        self.view = view

    def collect(self) -> Iterator[Metric]:
        v = self.view()
        if v is None:  # scraped before the first state is built
            return
        loop, ivl = v.loop, getattr(v, "interval", None)
        yield self._info(v, loop, ivl)
        if loop is not None:
            yield gauge(
                "policy_on",
                "1 while the model decides, 0 while the kernel's fallback AQM does (policy off)",
                0 if loop.policy is None else 1,
            )
            yield from self._loop(loop)
            yield from self._queues(loop)
        if ivl is not None:
            yield from interval_metrics(ivl)
        if v.teacher is not None:
            yield from self._teacher(v.teacher)
        yield from self._ring((loop or ivl).ring)

    def _info(self, v: Any, loop: Any, ivl: Any) -> Metric:
        info = GaugeMetricFamily(
            PREFIX + "build_info",
            "aqmllmd's version, the ring ABI it speaks, its mode (packet, interval or both),"
            " the per-packet model and the interval policy it runs ('' for a tier it does"
            " not run)",
            labels=["version", "abi", "model", "mode", "interval_model"],
        )
        info.add_metric(
            [
                aqmllm.__version__,
                str(layout.ABI_VERSION),
                loop.slot.model_label if loop is not None else "",
                v.mode,
                ivl.slot.model_label if ivl is not None else "",
            ],
            1,
        )
        return info

    def _loop(self, loop: Any) -> Iterator[Metric]:
        s = loop.stats
        yield _counter("batches", "record batches the daemon processed", s.batches)
        yield _counter("records", "records the daemon read from the ring", s.records)
        yield labelled_counter(
            "verdicts", "per-packet verdicts written, by action", "action", dict(s.by_action)
        )
        yield labelled_counter(
            "verdicts_skipped",
            "verdicts not written: late (the packet would have left first) or no_space"
            " (verdict ring full)",
            "reason",
            {"late": s.late_skipped, "no_space": s.no_space},
        )
        yield _counter(
            "policy_off_records",
            "records that arrived while the policy was off",
            s.policy_off_records,
        )
        yield _counter(
            "model_failures",
            "times the model failed (load, probe, exception, bad output, timeout) and the"
            " policy went off",
            s.failures,
        )
        yield _counter(
            "model_timeouts",
            "model batches slower than inference.model_timeout_ms",
            s.timeouts,
        )
        yield _counter(
            "stood_still",
            "slow batches forgiven because the whole daemon was stopped or starved of CPU",
            s.stood_still,
        )
        yield _counter(
            "fallback_episodes",
            "stretches of 'policy off' during which the kernel's fallback AQM decided",
            loop.slot.episodes,
        )
        yield _counter(
            "fallback_seconds",
            "seconds spent in fallback episodes, the current one included",
            loop.slot.off_seconds(),
        )
        yield _counter(
            "queue_policies_written",
            "per-queue policies written for the teacher",
            s.policies_written,
        )
        yield _counter(
            "ring_resyncs",
            "times the daemon skipped to the producer's index (a restarted producer, garbage)",
            s.resyncs,
        )
        yield histogram(
            "model_latency_seconds", "time of one model call (one batch)", {"": s.latency}, None
        )

    def _queues(self, loop: Any) -> Iterator[Metric]:
        q = loop.queues
        yield histogram(
            "sojourn_seconds",
            "head-of-queue sojourn at enqueue by traffic class (L4S or Classic), sampled:"
            " up to 64 records a batch",
            q.sojourn,
            "class",
        )
        records = CounterMetricFamily(
            PREFIX + "queue_records", "records read per queue", labels=["queue"]
        )
        verdicts = CounterMetricFamily(
            PREFIX + "queue_verdicts",
            "per-packet verdicts written per queue, by action",
            labels=["queue", "action"],
        )
        late = CounterMetricFamily(
            PREFIX + "queue_verdicts_late", "verdicts skipped as late, per queue", labels=["queue"]
        )
        for name, e in q.snapshot().items():
            records.add_metric([name], e["records"])
            for action in ("pass", "drop", "mark"):
                verdicts.add_metric([name, action], e[action])
            late.add_metric([name], e["late_skipped"])
        yield records
        yield verdicts
        yield late

    def _teacher(self, t: Any) -> Iterator[Metric]:
        yield gauge("teacher_up", "1 while the teacher model runs", 0 if t.teacher is None else 1)
        yield _counter("teacher_rounds", "teacher rounds that submitted queue policies", t.rounds)
        yield _counter("teacher_failures", "teacher load or round failures", t.failures)
        yield gauge("teacher_latency_seconds", "time of the last teacher round", t.latency_s)

    def _ring(self, ring: Any) -> Iterator[Metric]:
        try:
            values = ring.counters()
            age_ns = ring.heartbeat_age_ns()
        except (TypeError, ValueError, AttributeError, KeyError):
            return  # the ring closed under the scrape (shutdown, a restarted producer)
        yield gauge(
            "heartbeat_age_seconds",
            "age of the daemon's heartbeat on the packet path's clock (the kernel falls back"
            " when it exceeds its verdict timeout)",
            age_ns / 1e9,
        )
        families: dict[str, CounterMetricFamily] = {}
        for name in counters.ring_counter_names():
            c = counters.info(name)
            fam = families.get(c.metric)
            if fam is None:
                fam = families[c.metric] = CounterMetricFamily(
                    PREFIX + c.metric, _family_doc(c), labels=list(c.labels)
                )
            fam.add_metric(list(c.labels.values()), values[name])
        yield from families.values()


def _family_doc(c: counters.CounterInfo) -> str:
    """One HELP line per family: a labelled family is explained by its group."""
    if not c.labels:
        return f"packet path: {c.text}"
    key = next(iter(c.labels))
    return f"packet path: {c.group} by {key} (see aqmllmctl(8))"


def registry_for(view: Callable[[], Any]) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DaemonCollector(view))
    return registry
