"""The event-log format: layout from the C header, the file's framing, the flow key."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from aqmllm.sim._evlog import ffi, lib
from aqmllm.sim.evlog import (
    EV_DROP_DEQ,
    EV_MARKED,
    EV_SERVED,
    FLOW_DTYPE,
    HDR_DTYPE,
    ROW_DTYPE,
    EventLog,
    EvlogError,
    ip_u32,
    port_u16,
    read_evlog,
    write_evlog,
)
from packets import ipv4


def test_dtypes_are_the_c_structs() -> None:
    for dtype, cname in (
        (ROW_DTYPE, "struct aqmllm_evrow"),
        (FLOW_DTYPE, "struct aqmllm_evflow"),
        (HDR_DTYPE, "struct aqmllm_evlog_hdr"),
    ):
        assert dtype.itemsize == ffi.sizeof(cname)
        for name, field in ffi.typeof(cname).fields:
            assert dtype.fields[name][1] == field.offset, (cname, name)
    # The events are distinct codes and drops are told apart from served packets.
    codes = [lib.AQMLLM_EV_SERVED, lib.AQMLLM_EV_MARKED, lib.AQMLLM_EV_DROP_TAIL,
             lib.AQMLLM_EV_DROP_ENQ, lib.AQMLLM_EV_DROP_DEQ]  # fmt: skip
    assert len(set(codes)) == lib.AQMLLM_EV_COUNT == 5


def test_flow_key_from_ipv4_bytes() -> None:
    key = ffi.new("struct aqmllm_evflow *")
    pkt = ipv4("10.16.0.1", "10.128.0.2", 6, 49153, 5000, 0x02, 1500)
    assert lib.aqmllm_evlog_key(pkt, len(pkt), key) == 0
    assert (key.saddr, key.daddr) == (ip_u32("10.16.0.1"), ip_u32("10.128.0.2"))
    assert (key.sport, key.dport, key.proto) == (port_u16(49153), port_u16(5000), 6)
    # Not IPv4 TCP/UDP, or a later fragment: no flow.
    icmp = ipv4("10.0.0.1", "10.0.0.2", 1, 0, 0, 0, 84)
    assert lib.aqmllm_evlog_key(icmp, len(icmp), key) == -1
    frag = bytearray(pkt)
    frag[7] = 0x10  # fragment offset 16 * 8 bytes
    assert lib.aqmllm_evlog_key(bytes(frag), len(frag), key) == -1
    assert lib.aqmllm_evlog_key(pkt[:22], 22, key) == -1  # no room for the ports
    # ECT(1) and CE arrive in L; Not-ECT and ECT(0) in C.
    assert [lib.aqmllm_evlog_class(e) for e in range(4)] == [0, 1, 0, 1]


def _log(n: int) -> EventLog:
    rows = np.zeros(n, ROW_DTYPE)
    rows["t_ns"] = np.arange(n) * 1000
    rows["event"] = np.arange(n) % 5
    rows["flow"] = np.arange(n) % 2
    flows = np.zeros(2, FLOW_DTYPE)
    flows["sport"] = [1, 2]
    return EventLog(rows, flows, t0_ns=123)


def test_roundtrip_and_a_writer_that_died(tmp_path: Path) -> None:
    p = tmp_path / "a.evlog"
    write_evlog(p, _log(7))
    back = read_evlog(p)
    assert back.complete and back.t0_ns == 123
    assert (back.rows == _log(7).rows).all() and (back.flows == _log(7).flows).all()
    assert back.served().sum() == 4  # events 0..4, 0, 1: served or marked
    assert back.dropped().sum() == 3
    # No tail (the writer was killed, half a row written): the whole rows still read.
    data = p.read_bytes()
    cut = tmp_path / "cut.evlog"
    cut.write_bytes(data[: HDR_DTYPE.itemsize + 5 * ROW_DTYPE.itemsize + 7])
    part = read_evlog(cut)
    assert not part.complete and len(part.rows) == 5 and len(part.flows) == 0
    assert int(part.rows["event"][4]) == EV_DROP_DEQ


def test_foreign_files_are_refused_by_name(tmp_path: Path) -> None:
    old = tmp_path / "old.bin"
    old.write_bytes(
        np.zeros(10, [("t", "<f8"), ("s", "<f8"), ("b", "<u4"), ("x", "<u4")]).tobytes()
    )
    with pytest.raises(EvlogError, match="not an aqmllm event log") as err:
        read_evlog(old)
    assert str(old) in str(err.value)
    with pytest.raises(EvlogError, match="no such event log"):
        read_evlog(tmp_path / "none.evlog")
    short = tmp_path / "short.evlog"
    short.write_bytes(b"AQEV")
    with pytest.raises(EvlogError, match="shorter than the event-log header"):
        read_evlog(short)
    assert EV_SERVED == 0 and EV_MARKED == 1
