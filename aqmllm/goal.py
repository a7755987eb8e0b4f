"""The goal's thresholds (issue 16), in one place: the judge (sim/judge_rule.py,
sim/judge_noise.py) and the episode score the learners maximise
(models/rl/reward.py) both read them, so the two can never disagree on what
"beats" or "regresses" means.  A leaf: it imports nothing."""

UTIL_SLACK = 0.005  # "beats" allows utilisation this far below the reference
L_FLOOR_MS = 1.0  # "beats" allows L p99 up to max(this, the reference's)
REGRESSION_UTIL = 0.02  # hard bound: never more than 2 points of utilisation below
REGRESSION_C = 1.2  # hard bound: never more than 20 % above the reference's C p99
