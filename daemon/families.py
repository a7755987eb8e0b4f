"""Building Prometheus metric families the way every aqmllmd series is built: one prefix,
counters (``_total`` added by prometheus_client), gauges, labelled counters, histograms
from :class:`aqmllm.daemon.stats.Histogram`; shared by :mod:`.metrics` and
:mod:`.interval_metrics`."""

from __future__ import annotations

from aqmllm.daemon.stats import Histogram
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

PREFIX = "aqmllm_"


def counter(name: str, doc: str, value: float, labels: dict[str, str] | None = None) -> Metric:
    if labels:
        m = CounterMetricFamily(PREFIX + name, doc, labels=list(labels))
        m.add_metric(list(labels.values()), value)
        return m
    return CounterMetricFamily(PREFIX + name, doc, value=value)


def labelled_counter(
    name: str, doc: str, label: str, values: dict[str, float]
) -> CounterMetricFamily:
    m = CounterMetricFamily(PREFIX + name, doc, labels=[label])
    for key, v in values.items():
        m.add_metric([key], v)
    return m


def gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(PREFIX + name, doc, value=value)


def histogram(name: str, doc: str, hists: dict[str, Histogram], label: str | None) -> Metric:
    m = HistogramMetricFamily(PREFIX + name, doc, labels=[label] if label else None)
    for key, h in hists.items():
        m.add_metric([key] if label else [], h.buckets(), h.total)
    return m
