"""Web traffic schedules: pure and seeded, Poisson starts, heavy-tailed sizes of the mean asked."""

from __future__ import annotations

import math

import numpy as np
import pytest
from aqmllm.sim.scenario import Flow, parse_scenario
from aqmllm.sim.web import web_transfers


def _web(duration: float = 3600, **kw) -> Flow:
    f = {"kind": "web", "arrivals_per_s": 50, "mean_kb": 40, "max_kb": 1e6, **kw}
    sc = parse_scenario(
        {"duration_s": duration, "bottleneck": {"rate_mbps": 10}, "flows": [f]}, "w"
    )
    return sc.flows[0]


def test_same_seed_same_transfers_other_seed_or_source_other_ones() -> None:
    f = _web(stop_s=60)
    a = web_transfers(f, 7, 60)
    assert a == web_transfers(f, 7, 60)
    assert a != web_transfers(f, 8, 60) and a != web_transfers(f, 7, 60, source=1)
    assert all(isinstance(t, float) and isinstance(n, int) and n >= 1 for t, n in a)
    assert [t for t, _ in a] == sorted(t for t, _ in a)


def test_poisson_arrivals_within_start_and_stop() -> None:
    f = _web(start_s=10, stop_s=610)
    starts = np.array([t for t, _ in web_transfers(f, 1, 3600)])
    assert starts.min() >= 10 and starts.max() < 610
    n, expected = len(starts), 50 * 600
    assert abs(n - expected) < 4 * math.sqrt(expected)
    gaps = np.diff(starts)
    # exponential gaps: mean 1/rate, coefficient of variation 1
    assert gaps.mean() == pytest.approx(1 / 50, rel=0.03)
    assert gaps.std() / gaps.mean() == pytest.approx(1.0, abs=0.05)
    # stop defaults to the run's end
    assert max(t for t, _ in web_transfers(_web(duration=5), 1, 5.0)) < 5.0


@pytest.mark.parametrize(("dist", "shape"), [("lognormal", 1.0), ("pareto", 2.5)])
def test_sizes_have_the_mean_asked_and_respect_the_cap(dist: str, shape: float) -> None:
    f = _web(size_dist=dist, shape=shape, stop_s=500)
    sizes = np.array([n for _, n in web_transfers(f, 3, 500)], dtype=float)
    assert sizes.mean() == pytest.approx(40_000, rel=0.05)
    assert np.median(sizes) < sizes.mean()  # heavy right tail
    capped = _web(size_dist=dist, shape=shape, stop_s=200, max_kb=50)
    assert max(n for _, n in web_transfers(capped, 3, 200)) == 50_000


def test_only_web_flows_have_transfers() -> None:
    with pytest.raises(ValueError, match="a 'cubic' flow has no transfers"):
        web_transfers(Flow("cubic"), 1, 10)
