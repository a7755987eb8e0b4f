"""What the bridge raises about a ring, in a leaf module: the ring and the
FreeBSD device code both raise these, and neither imports the other for it."""

from __future__ import annotations


class RingError(RuntimeError):
    """The region is unusable: missing, foreign, corrupt or of another ABI."""


class AbiMismatch(RingError):
    """The producer speaks another version of the ring ABI."""


class RingBusy(RingError):
    """Another daemon owns the ring."""
