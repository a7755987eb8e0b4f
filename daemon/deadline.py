"""Which records can still get a useful verdict: the deadline filter.

``t_ns + est_wait_ns`` is a packet's expected dequeue on the producer's
clock; a verdict that lands after it is wasted (the kernel rejects it as
late).  A link of unknown rate (``rate_kbps`` 0) gives no estimate, so
such records always count.
"""

from __future__ import annotations

import numpy as np


def on_time_mask(recs: np.ndarray, now_ns: int, margin_ns: int) -> tuple[np.ndarray | None, int]:
    """(None, 0) when every packet is still queued at ``now_ns + margin_ns``, else
    (the mask of those that are, how many are not)."""
    due = recs["t_ns"] + recs["est_wait_ns"]
    on_time = (due >= np.uint64(now_ns + margin_ns)) | (recs["rate_kbps"] == 0)
    late = len(recs) - int(np.count_nonzero(on_time))
    return (None, 0) if late == 0 else (on_time, late)
