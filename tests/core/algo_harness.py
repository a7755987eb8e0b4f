"""Direct drivers for one fallback AQM through its descriptor (struct aqm_alg):
a context per call, no queue logic."""

from __future__ import annotations

from aqmllm.bridge._aqmcore import ffi, lib

MS = 1_000_000
ONE = 2**32


def prob(p: int) -> float:
    return p / ONE


def make_ctx(
    now: int,
    *,
    qdelay: int = 0,
    sojourn: int = 0,
    ecn: int = 0,
    cls: int = 0,
    qlen_pkts: tuple[int, int] = (10, 0),
    qlen_bytes: tuple[int, int] | None = None,
    pkt_len: int = 1500,
    limit: int = 1000,
    rng=None,
):
    c = ffi.new("struct aqm_ctx *")
    c.now_ns = now
    c.sojourn_ns = sojourn
    c.qdelay_ns[0] = qdelay
    c.qdelay_ns[1] = 0
    c.qlen_pkts[0], c.qlen_pkts[1] = qlen_pkts
    qb = qlen_bytes or (qlen_pkts[0] * pkt_len, qlen_pkts[1] * pkt_len)
    c.qlen_bytes[0], c.qlen_bytes[1] = qb
    c.pkt_len = pkt_len
    c.limit_pkts = limit
    c.ecn = ecn
    c.cls = cls
    c.rng = rng if rng is not None else ffi.new("struct aqm_prng *", {"s": 0x1234567})
    return c


def descriptor(kind: str):
    alg = lib.aqm_alg_by_name(kind.encode())
    assert alg != ffi.NULL, kind
    return alg


def defaults(kind: str):
    """The whole parameter set with this algorithm's defaults."""
    par = ffi.new("struct aqm_params *")
    descriptor(kind).defaults(par)
    return par


def validates(kind: str, par) -> int:
    return descriptor(kind).validate(par)


class AlgState:
    """One algorithm's state, driven only through its descriptor's hooks.

    Attributes read and write the C state (``s.p_prime``, ``s.par.k``);
    ``next_update_ns`` is the lazy tick's schedule, kept beside the state as
    a queue keeps it.
    """

    def __init__(self, kind: str, now: int = 0, **overrides: int) -> None:
        alg = descriptor(kind)
        par = defaults(kind)
        for key, value in overrides.items():
            setattr(getattr(par, kind), key, value)
        assert alg.validate(par) == 0
        state = ffi.new(f"struct aqm_{kind} *")
        alg.init(state, par)
        nxt = ffi.new("uint64_t *", now + alg.tupdate_ns(state) if alg.update else 0)
        object.__setattr__(self, "_alg", alg)
        object.__setattr__(self, "_state", state)
        object.__setattr__(self, "_next", nxt)

    def __getattr__(self, name: str):
        if name == "next_update_ns":
            return self._next[0]
        return getattr(self._state, name)

    def __setattr__(self, name: str, value) -> None:
        if name == "next_update_ns":
            self._next[0] = value
        else:
            setattr(self._state, name, value)

    def tick(self, ctx) -> None:
        lib.aqm_alg_tick(self._alg, self._state, self._next, ctx)

    def enqueue(self, ctx) -> int:
        return self._alg.enqueue(self._state, ctx)

    def dequeue(self, ctx) -> int:
        return self._alg.dequeue(self._state, ctx)

    def prob(self, cls: int) -> int:
        return self._alg.prob(self._state, cls)

    def overloaded(self, ctx=None) -> int:
        return self._alg.overloaded(self._state, ctx if ctx is not None else make_ctx(0))

    def select(self, l_backlogged: int, c_backlogged: int, len_l: int, len_c: int) -> int:
        return self._alg.select(self._state, l_backlogged, c_backlogged, len_l, len_c)


def new_state(kind: str, now: int = 0, **overrides: int) -> AlgState:
    return AlgState(kind, now, **overrides)


def rng(seed: int):
    r = ffi.new("struct aqm_prng *")
    r.s = seed * 0x9E3779B97F4A7C15 % 2**64 or 1
    return r
