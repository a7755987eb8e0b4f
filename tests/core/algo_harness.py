"""Direct drivers for one fallback AQM: a context per call, no queue logic."""

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
    c.ecn = ecn
    c.cls = cls
    c.rng = rng if rng is not None else ffi.new("struct aqm_prng *", {"s": 0x1234567})
    return c


def new_state(kind: str, now: int = 0, **overrides: int):
    par = ffi.new(f"struct aqm_{kind}_params *")
    getattr(lib, f"aqm_{kind}_defaults")(par)
    for key, value in overrides.items():
        setattr(par, key, value)
    assert getattr(lib, f"aqm_{kind}_validate")(par) == 0
    s = ffi.new(f"struct aqm_{kind} *")
    getattr(lib, f"aqm_{kind}_init")(s, par, now)
    return s


def rng(seed: int):
    r = ffi.new("struct aqm_prng *")
    r.s = seed * 0x9E3779B97F4A7C15 % 2**64 or 1
    return r
