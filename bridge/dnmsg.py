"""The IP_DUMMYNET3 message that attaches the AQM "llm" to a dummynet pipe.

Stock ipfw only names the AQMs it knows (codel, pie); this builds the same
object list it would send for `pipe N config ... <aqm>`, with
``dn_extra_parms.name = "llm"``:

    [CMD_CONFIG] [DN_SCH N] [DN_LINK N] [DN_TEXT aqm params] [DN_FS N+2*65536]

The struct layouts are FreeBSD's (sys/netinet/ip_dummynet.h, amd64); the
test suite checks every size and offset used here against that header as
compiled for FreeBSD.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from aqmllm.bridge.layout import FALLBACKS

IP_DUMMYNET3 = 49
DN_API_VERSION = 12500000
DN_MAX_ID = 0x10000
DN_LINK, DN_FS, DN_SCH, DN_TEXT = 1, 2, 3, 9
DN_CMD_CONFIG = 0x80
DN_AQM_PARAMS = 0x89
DN_QSIZE_BYTES = 0x0008
DN_IS_AQM = 0x0100
DN_MAX_EXTRA_PARM = 10
FLOW_ID_SIZE = 56  # struct ipfw_flow_id

# Sizes and offsets (bytes) that the builder relies on; tests compare them
# with FreeBSD's header.
SIZES = {"dn_id": 8, "dn_link": 32, "dn_sch": 92, "dn_fs": 136, "dn_extra_parms": 112}
OFFSETS = {
    "dn_link": {"link_nr": 8, "bandwidth": 12, "delay": 16, "burst": 24},
    "dn_sch": {"sched_nr": 8, "buckets": 12, "flags": 16, "name": 20, "sched_mask": 36},
    "dn_fs": {
        "fs_nr": 8,
        "flags": 12,
        "qsize": 16,
        "pl_state": 20,
        "buckets": 24,
        "flow_mask": 28,
        "sched_nr": 84,
        "par": 88,
        "w_q": 104,
        "max_th": 108,
        "min_th": 112,
        "max_p": 116,
        "plr": 120,
    },
    "dn_extra_parms": {"name": 8, "nr": 24, "par": 32},
}


class DnMsgError(ValueError):
    """A pipe configuration that cannot be expressed."""


def _dn_id(length: int, typ: int, subtype: int = 0, ident: int = 0) -> bytes:
    return struct.pack("<HBBI", length, typ, subtype, ident)


def parse_rate(text: str) -> int:
    """'100Mbit/s', '1Gbit/s', '800Kbit/s', '2000000' -> bits per second."""
    t = text.strip().lower().removesuffix("/s").removesuffix("bit").removesuffix("bps")
    mult = 1
    for suffix, m in (("k", 10**3), ("m", 10**6), ("g", 10**9)):
        if t.endswith(suffix):
            t, mult = t[:-1], m
            break
    try:
        value = float(t) * mult
    except ValueError:
        raise DnMsgError(f"bandwidth {text!r}: expected e.g. 100Mbit/s") from None
    if not 0 < value < 2**32:
        raise DnMsgError(f"bandwidth {text!r} is out of range (1 bit/s .. 4 Gbit/s)")
    return int(value)


@dataclass
class PipeConfig:
    pipe: int
    bandwidth_bps: int = 0  # 0: unlimited
    delay_ms: int = 0
    queue_pkts: int = 0  # 0: dummynet's default; in bytes when queue_bytes
    fallback: str | None = None  # None: the module's sysctl default
    queue_bytes: bool = False  # the queue size is in bytes (ipfw's "queue NKB", "queue NB")


def build_pipe_config(cfg: PipeConfig) -> bytes:
    if not 1 <= cfg.pipe < DN_MAX_ID:
        raise DnMsgError(f"pipe number {cfg.pipe} is outside 1..{DN_MAX_ID - 1}")
    if cfg.fallback is not None and cfg.fallback not in FALLBACKS:
        raise DnMsgError(f"fallback {cfg.fallback!r}: expected one of {', '.join(FALLBACKS)}")
    if not 0 <= cfg.delay_ms < 10000:
        raise DnMsgError(f"delay {cfg.delay_ms} ms is out of range (0..9999 ms)")
    if not 0 <= cfg.queue_pkts < 2**31:
        unit = "bytes" if cfg.queue_bytes else "packets"
        raise DnMsgError(f"queue {cfg.queue_pkts} {unit} is out of range (0..{2**31 - 1})")
    out = bytearray(_dn_id(SIZES["dn_id"], DN_CMD_CONFIG, 0, DN_API_VERSION))

    sch = bytearray(SIZES["dn_sch"])
    sch[0:8] = _dn_id(SIZES["dn_sch"], DN_SCH, 0, 0)  # subtype 0: the default (WF2Q+)
    struct.pack_into("<III", sch, OFFSETS["dn_sch"]["sched_nr"], cfg.pipe, 0, 0)
    out += sch

    link = bytearray(SIZES["dn_link"])
    link[0:8] = _dn_id(SIZES["dn_link"], DN_LINK)
    struct.pack_into(
        "<iIi", link, OFFSETS["dn_link"]["link_nr"], cfg.pipe, cfg.bandwidth_bps, cfg.delay_ms
    )
    out += link

    ep = bytearray(SIZES["dn_extra_parms"])
    ep[0:8] = _dn_id(SIZES["dn_extra_parms"], DN_TEXT, DN_AQM_PARAMS)
    ep[8 : 8 + 16] = b"llm".ljust(16, b"\0")
    pars = [-1] * DN_MAX_EXTRA_PARM
    if cfg.fallback is not None:
        pars[0] = FALLBACKS[cfg.fallback]
    # nr and par separately: par (int64_t) is 8-aligned, 4 bytes after nr
    struct.pack_into("<I", ep, OFFSETS["dn_extra_parms"]["nr"], DN_MAX_EXTRA_PARM)
    struct.pack_into(f"<{DN_MAX_EXTRA_PARM}q", ep, OFFSETS["dn_extra_parms"]["par"], *pars)
    out += ep

    fs = bytearray(SIZES["dn_fs"])
    fs[0:8] = _dn_id(SIZES["dn_fs"], DN_FS)
    o = OFFSETS["dn_fs"]
    flags = DN_IS_AQM | (DN_QSIZE_BYTES if cfg.queue_bytes else 0)
    struct.pack_into("<IIi", fs, o["fs_nr"], cfg.pipe + 2 * DN_MAX_ID, flags, cfg.queue_pkts)
    struct.pack_into("<I", fs, o["sched_nr"], cfg.pipe + DN_MAX_ID)
    struct.pack_into("<4i", fs, o["par"], -1, -1, -1, -1)
    out += fs
    if len(out) > 12000:
        raise DnMsgError("configuration message exceeds dummynet's 12000-byte limit")
    return bytes(out)


def send(msg: bytes) -> None:
    """setsockopt(IP_DUMMYNET3) on a raw socket (FreeBSD, root)."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW) as s:
        s.setsockopt(socket.IPPROTO_IP, IP_DUMMYNET3, msg)
