"""A hand-written adaptive-target policy: the sanity check of the action space.

The right classic target depends on the RTT and the capacity (the lead's
study: 3 ms is best at 10 ms RTT, 10-15 ms is needed at 100 ms).  A queue
tells which side it is on without knowing either:

- the link stayed busy over the whole window while C's queue never drained
  below ``standing_share`` of the target (the minimum of the intervals' mean
  sojourn): that standing queue buys no throughput -> lower the target one
  level;
- the link idled (mean utilisation below ``idle_util``) in intervals with
  demand: the target is too tight for these flows' sawtooth -> raise it one
  level.

After a change it waits ``dwell`` intervals (a few RTTs) before the next.
Only the target knob moves; the multipliers and the step stay at the
fallback's.  It is also a behaviour policy for pools: its target walks
where the classics' fixed ones do not go.
"""

from __future__ import annotations

from collections import deque
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from aqmllm.models.rl import levels
from aqmllm.models.rl.policy_api import restrict_to_valid
from aqmllm.models.rl.records import CLASS_C, cls_field
from aqmllm.models.rl.reward import GAP_FACTOR, active, utilisation


@dataclass
class AdaptiveTargetConfig:
    window: int = 16  # intervals looked at (0.25 s at 16 ms)
    dwell: int = 16  # intervals to wait after a change
    busy_util: float = 0.98
    idle_util: float = 0.95
    standing_share: float = 0.5
    min_demand_share: float = 0.5  # of the window's intervals, to call an idle link a problem


class _Queue:
    def __init__(self, window: int) -> None:
        self.util: deque[float] = deque(maxlen=window)
        self.interval: deque[float] = deque(maxlen=window)
        self.demand: deque[bool] = deque(maxlen=window)
        self.sojourn_share: deque[float] = deque(maxlen=window)
        self.position = int(np.argsort(levels.sorted_levels(levels.TARGET))[0])  # level 0: x1
        self.wait = 0


class AdaptiveTarget:
    name = "adaptive-target"

    def __init__(self, cfg: AdaptiveTargetConfig | None = None) -> None:
        self.cfg = cfg or AdaptiveTargetConfig()
        self._order = levels.sorted_levels(levels.TARGET)
        self.reset()

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, **asdict(self.cfg)}

    def reset(self) -> None:
        self._queues: dict[int, _Queue] = {}

    def _decide(self, q: _Queue) -> None:
        c = self.cfg
        if q.wait > 0:
            q.wait -= 1
            return
        if len(q.util) < c.window:
            return
        util = np.asarray(q.util)
        demanded = np.asarray(q.demand)
        busy = demanded.all() and util.min() >= c.busy_util
        standing = min(q.sojourn_share) >= c.standing_share
        idle = demanded.mean() >= c.min_demand_share and util[demanded].mean() < c.idle_util
        step = -1 if busy and standing else (1 if idle else 0)
        new = int(np.clip(q.position + step, 0, len(self._order) - 1))
        if new != q.position:
            q.position, q.wait = new, c.dwell

    def act(self, records: np.ndarray) -> np.ndarray:
        util = utilisation(records)
        busy_now = active(records)
        target = np.maximum(records["target_ns"].astype(np.float64), 1.0)
        share = cls_field(records, "sojourn_mean_ns", CLASS_C) / target
        out = np.zeros((len(records), levels.N_KNOBS), np.int64)
        for i, qid in enumerate(records["queue_id"].tolist()):
            q = self._queues.setdefault(qid, _Queue(self.cfg.window))
            interval = float(records["interval_ns"][i])
            nominal = float(np.median(q.interval)) if q.interval else interval
            q.interval.append(interval)
            q.util.append(float(util[i]))
            q.demand.append(bool(busy_now[i]) and interval <= GAP_FACTOR * nominal)
            q.sojourn_share.append(float(share[i]))
            self._decide(q)
            out[i, levels.TARGET] = self._order[q.position]
        return restrict_to_valid(out, records["fb_id"])
