"""The bottleneck event log (sim/evlog/aqmllm_evlog.h) as numpy arrays.

The dtypes come from the C structs through cffi (``aqmllm.sim._evlog``),
as the ring ABI's do in bridge/layout.py: nothing here restates the layout.
One row per packet outcome; see the header for the events' meaning.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from aqmllm.bridge.layout import struct_dtype
from aqmllm.sim._evlog import ffi, lib

ROW_DTYPE = struct_dtype("struct aqmllm_evrow", ffi)
FLOW_DTYPE = struct_dtype("struct aqmllm_evflow", ffi)
HDR_DTYPE = struct_dtype("struct aqmllm_evlog_hdr", ffi)
TAIL_DTYPE = struct_dtype("struct aqmllm_evlog_tail", ffi)

MAGIC = int(lib.AQMLLM_EVLOG_MAGIC)
TAIL_MAGIC = int(lib.AQMLLM_EVLOG_TAIL_MAGIC)
VERSION = int(lib.AQMLLM_EVLOG_VERSION)
NO_FLOW = int(lib.AQMLLM_EVLOG_NO_FLOW)

EV_SERVED = int(lib.AQMLLM_EV_SERVED)
EV_MARKED = int(lib.AQMLLM_EV_MARKED)
EV_DROP_TAIL = int(lib.AQMLLM_EV_DROP_TAIL)
EV_DROP_ENQ = int(lib.AQMLLM_EV_DROP_ENQ)
EV_DROP_DEQ = int(lib.AQMLLM_EV_DROP_DEQ)
EVENT_NAMES = {
    EV_SERVED: "served",
    EV_MARKED: "marked",
    EV_DROP_TAIL: "drop-tail",
    EV_DROP_ENQ: "drop-enqueue",
    EV_DROP_DEQ: "drop-dequeue",
}
DROP_EVENTS = (EV_DROP_TAIL, EV_DROP_ENQ, EV_DROP_DEQ)


class EvlogError(ValueError):
    """An event-log file is missing, truncated or of another format."""


@dataclass
class EventLog:
    rows: np.ndarray  # ROW_DTYPE
    flows: np.ndarray  # FLOW_DTYPE, indexed by rows["flow"]
    t0_ns: int = 0
    complete: bool = True  # the writer closed it (the flow table is there)

    def served(self) -> np.ndarray:
        ev = self.rows["event"]
        return (ev == EV_SERVED) | (ev == EV_MARKED)

    def dropped(self) -> np.ndarray:
        return np.isin(self.rows["event"], DROP_EVENTS)


def read_evlog(path: str | Path) -> EventLog:
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise EvlogError(f"{p}: no such event log") from None
    hs = HDR_DTYPE.itemsize
    if len(data) < hs:
        raise EvlogError(f"{p}: {len(data)} bytes, shorter than the event-log header")
    h = np.frombuffer(data, HDR_DTYPE, count=1)[0]
    if int(h["magic"]) != MAGIC:
        raise EvlogError(f"{p}: not an aqmllm event log (magic {int(h['magic']):#x})")
    if int(h["version"]) != VERSION or int(h["row_size"]) != ROW_DTYPE.itemsize:
        raise EvlogError(
            f"{p}: event-log version {int(h['version'])} with {int(h['row_size'])}-byte rows;"
            f" this build reads version {VERSION}, {ROW_DTYPE.itemsize}-byte rows"
        )
    if int(h["flow_size"]) != FLOW_DTYPE.itemsize or int(h["hdr_size"]) != hs:
        raise EvlogError(f"{p}: event-log header or flow size differs from this build's")
    body = data[hs:]
    rs, fs, ts = ROW_DTYPE.itemsize, FLOW_DTYPE.itemsize, TAIL_DTYPE.itemsize
    if len(body) >= ts:
        tail = np.frombuffer(body[len(body) - ts :], TAIL_DTYPE, count=1)[0]
        nrows, nflows = int(tail["rows"]), int(tail["flows"])
        if int(tail["magic"]) == TAIL_MAGIC and nrows * rs + nflows * fs + ts == len(body):
            rows = np.frombuffer(body, ROW_DTYPE, count=nrows).copy()
            flows = np.frombuffer(body, FLOW_DTYPE, count=nflows, offset=nrows * rs).copy()
            return EventLog(rows, flows, int(h["t0_ns"]), True)
    # The writer died: every whole row is there, the flow table is not.
    rows = np.frombuffer(body, ROW_DTYPE, count=len(body) // rs).copy()
    return EventLog(rows, np.zeros(0, FLOW_DTYPE), int(h["t0_ns"]), False)


def write_evlog(path: str | Path, log: EventLog) -> None:
    """The same file the C writer produces (used to store a cut or shifted log)."""
    h = np.zeros(1, HDR_DTYPE)
    h["magic"], h["version"] = MAGIC, VERSION
    h["row_size"], h["flow_size"], h["hdr_size"] = (
        ROW_DTYPE.itemsize,
        FLOW_DTYPE.itemsize,
        HDR_DTYPE.itemsize,
    )
    h["t0_ns"] = log.t0_ns
    t = np.zeros(1, TAIL_DTYPE)
    t["rows"], t["flows"], t["magic"] = len(log.rows), len(log.flows), TAIL_MAGIC
    with open(path, "wb") as f:
        for part in (h, log.rows.astype(ROW_DTYPE), log.flows.astype(FLOW_DTYPE), t):
            f.write(part.tobytes())


def ip_u32(dotted: str) -> int:
    """An IPv4 address as the flow table stores it (network byte order, read little-endian)."""
    return int.from_bytes(bytes(int(x) for x in dotted.split(".")), "little")


def port_u16(port: int) -> int:
    """A port as the flow table stores it (network byte order, read little-endian)."""
    return int.from_bytes(port.to_bytes(2, "big"), "little")
