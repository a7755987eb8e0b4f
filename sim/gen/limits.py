"""The envelope every generated scenario stays in, whatever its family says.

Numeric latents: (lo, hi) their support must lie in.  String latents: the
values they may take.  The envelope is issue 16's (capacity 2-200 Mbit/s,
base RTTs 5-200 ms, 1-16 flows per class, capacity steps x0.2-x5,
unresponsive UDP up to 1.5x the link), with durations of 6-30 s: the base
families keep to 6-12 s so an ns-3 episode stays cheap, and the long ones
(*-long) match the held-out suites' 10-25 s, where short episodes are
mostly slow start.  Codepoints the base scenario keys cannot express
(ECT(1) UDP, web flows) need ``scenario_keys = "extended"``.
"""

from __future__ import annotations

NUMERIC: dict[str, tuple[float, float]] = {
    "duration_s": (6.0, 30.0),
    "rate_mbps": (2.0, 200.0),
    "buffer_bdp": (0.5, 16.0),
    "rtt_base_ms": (5.0, 200.0),
    "rtt_factor": (0.1, 10.0),
    "c_count": (1, 16),
    "c_split": (0.0, 0.5),
    "l_count": (0, 16),
    "late_start_s": (0.0, 4.0),
    "udp_load": (0.0, 1.5),
    "udp_on_frac": (0.0, 0.9),
    "udp_off_frac": (0.1, 1.0),
    "step_factor": (0.2, 5.0),
    "step_at_frac": (0.2, 0.8),
    "step_toggle_s": (0.0, 6.0),
    "web_load": (0.0, 0.8),
    "web_mean_kb": (5.0, 2000.0),
    "web_shape": (0.5, 3.0),
    "web_rtt_ms": (5.0, 200.0),
}
CHOICES: dict[str, tuple[str, ...]] = {
    "rtt_mix": ("same", "two", "spread"),
    "c_kind": ("cubic", "newreno", "mixed"),
    "c_ecn": ("not-ect", "ect0", "mixed"),
    "udp_ecn": ("not-ect", "ect0", "ect1"),
    "web_cc": ("cubic", "newreno", "dctcp"),
    "web_ecn": ("not-ect", "ect0", "ect1"),
    "web_size_dist": ("lognormal", "pareto"),
}
RTT_MS = (5.0, 200.0)  # every flow's RTT, after mixing, is clamped here
RATE_AFTER_STEP_MBPS = (0.5, 1000.0)  # a step from 200 Mbit/s x5 is clamped, as are tiny ones
BUFFER_PKTS = (32, 40000)  # the BDP multiple, clamped: tiny links still hold a burst
MAX_FLOWS_PER_CLASS = 16
EXTENDED_ONLY = {"udp_ecn": ("ect1",)}  # codepoints base keys cannot say
EXTENDED_LATENTS = ("web_load",)  # on (non-zero) only with extended keys
