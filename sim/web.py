"""Web traffic: the schedule of a web source's transfers, seeded and pure.

A web flow (`kind = "web"` in a scenario) is `count` independent sources;
each source opens one TCP connection per transfer, at Poisson arrival times,
with a size drawn from a heavy-tailed distribution of the given mean.
ns-3 and the emulator call the same function, so both send the same
transfers for the same seed.  Python's `random.Random` (Mersenne Twister,
seeded from a string) keeps the stream stable across Python versions.
"""

from __future__ import annotations

import math
import random

from aqmllm.sim.scenario import Flow


def web_transfers(
    flow: Flow, seed: int, duration_s: float, source: int = 0
) -> list[tuple[float, int]]:
    """(start_s, size_bytes) of one source's transfers, in start order.

    source: the source's index among the scenario's expanded flows (each web
    source of a scenario gets its own stream).  Starts lie in
    [flow.start_s, stop) with stop = flow.stop_s or duration_s; sizes are at
    least one byte and at most max_kb.
    """
    if flow.kind != "web":
        raise ValueError(f"web_transfers: a {flow.kind!r} flow has no transfers")
    rng = random.Random(f"aqmllm-web:{seed}:{source}")
    stop = min(flow.stop_s if flow.stop_s is not None else duration_s, duration_s)
    mean = flow.mean_kb * 1000.0
    cap = max(1, int(flow.max_kb * 1000))
    out: list[tuple[float, int]] = []
    t = flow.start_s
    while True:
        t += rng.expovariate(flow.arrivals_per_s)
        if t >= stop:
            return out
        if flow.size_dist == "lognormal":
            sigma = flow.shape
            size = rng.lognormvariate(math.log(mean) - sigma * sigma / 2, sigma)
        else:  # pareto, alpha > 1: mean = x_m * alpha / (alpha - 1)
            alpha = flow.shape
            size = mean * (alpha - 1) / alpha * rng.paretovariate(alpha)
        out.append((round(t, 9), min(cap, max(1, math.ceil(size)))))
