"""Raw IPv4 packets for the event-log tests."""

from __future__ import annotations

import struct


def ipv4(src: str, dst: str, proto: int, sport: int, dport: int, tos: int, size: int) -> bytes:
    """An IPv4 packet of `size` bytes with a TCP or UDP header (ports only matter)."""
    l4 = struct.pack("!HH", sport, dport) + bytes(16 if proto == 6 else 4)
    head = struct.pack(
        "!BBHHHBBH4s4s",
        0x45,
        tos,
        size,
        0,
        0,
        64,
        proto,
        0,
        bytes(int(x) for x in src.split(".")),
        bytes(int(x) for x in dst.split(".")),
    )
    return head + l4 + bytes(size - 20 - len(l4))
