"""Feature schema interval-v4 (issue 16): interval-v3's columns, then the link's own idle time,
which v3's queue-idle columns overstate (the link sends the last packet with the queue empty)."""

from __future__ import annotations

import numpy as np
import pytest
from aqmllm.bridge import layout
from aqmllm.models.interval_features import V3_NAMES, V4_NAMES, feature_fn
from aqmllm.models.interval_history import IntervalHistory

C = layout.CLASS_C
MS = 1_000_000


def _recs(n: int, busy: float, sent: float, rate_kbps: int = 10_000) -> np.ndarray:
    """One queue's 100 ms records: the queue holds packets `busy` of the time and the
    link sends `sent` of 10 Mbit/s (of `rate_kbps`, the configured rate)."""
    r = np.zeros(n, layout.INTERVAL_DTYPE)
    r["seq"] = np.arange(1, n + 1)
    r["interval_ns"] = 100 * MS
    r["busy_ns"] = int(busy * 100 * MS)
    r["target_ns"] = 10 * MS
    r["rate_kbps"] = rate_kbps
    r["fb_id"] = layout.FALLBACKS["dualpi2"]
    r["cls"]["sojourn_mean_ns"][:, C] = 5 * MS
    r["cls"]["dep_bytes"][:, C] = int(125_000 * sent)
    return r


def _last(h: IntervalHistory, schema: str, names: list[str]) -> dict[str, float]:
    row = h.features(schema, np.array([0]), 1)[0, -1].tolist()
    return dict(zip(names, row, strict=True))


def _history(*batches: np.ndarray) -> IntervalHistory:
    h = IntervalHistory(window=2)
    h.track("interval-v4", *feature_fn("interval-v4"))
    h.track("interval-v3", *feature_fn("interval-v3"))
    for recs in batches:
        for k in range(len(recs)):  # one record per batch, as a queue's records arrive
            h.update(recs[k : k + 1])
    return h


def test_v4_is_v3_then_the_links_idle_time_not_the_queues() -> None:
    assert feature_fn("interval-v4")[1] == len(V4_NAMES) == len(V3_NAMES) + 2
    assert V4_NAMES[: len(V3_NAMES)] == V3_NAMES  # v3's positions unchanged
    # 80 s with the queue empty half the time but the link never idle (the last packet is
    # on the wire): v3 says 50 % idle, v4 says none
    h = _history(_recs(800, busy=0.5, sent=1.0))
    v3, v4 = _last(h, "interval-v3", V3_NAMES), _last(h, "interval-v4", V4_NAMES)
    assert [v4[n] for n in V3_NAMES] == [v3[n] for n in V3_NAMES]
    assert v4["idle_1s"] == pytest.approx(np.log2(51.0), rel=1e-5)
    assert v4["link_idle_1s"] == v4["link_idle_8s"] == 0.0
    # the link sends 90 % of its rate: 10 % idle, log2(1 + 10) on both windows
    h = _history(_recs(800, busy=0.5, sent=0.9))
    v4 = _last(h, "interval-v4", V4_NAMES)
    assert v4["link_idle_1s"] == pytest.approx(np.log2(11.0), rel=1e-4)
    assert v4["link_idle_8s"] == pytest.approx(np.log2(11.0), rel=1e-3)


def test_the_links_idle_time_follows_the_configured_rate_and_falls_back_to_the_queues() -> None:
    full = _recs(800, busy=0.9, sent=1.0)
    # the rate halves: for a while departures are above it, which reads as no idle time
    down = _recs(5, busy=0.9, sent=0.5, rate_kbps=5_000)
    v4 = _last(_history(full, down), "interval-v4", V4_NAMES)
    assert v4["link_idle_1s"] == v4["link_idle_8s"] == 0.0
    # the rate doubles and the senders have not caught up: half the link idles at once,
    # on both windows (the departures' mean has not moved), though the queue is as busy
    up = _recs(10, busy=0.9, sent=1.0, rate_kbps=20_000)
    v4 = _last(_history(full, up), "interval-v4", V4_NAMES)
    assert v4["link_idle_1s"] == pytest.approx(np.log2(51.0), rel=1e-4)
    assert v4["link_idle_8s"] == pytest.approx(np.log2(51.0), rel=1e-4)
    assert v4["idle_1s"] == pytest.approx(np.log2(11.0), rel=1e-4)
    # an unknown rate (0): the queue's own idle time stands in, the bound towards idle
    blind = _recs(800, busy=0.9, sent=1.0, rate_kbps=0)
    v4 = _last(_history(blind), "interval-v4", V4_NAMES)
    assert v4["link_idle_1s"] == v4["idle_1s"] == pytest.approx(np.log2(11.0), rel=1e-4)
