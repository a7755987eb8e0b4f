"""The ABI seen from Python: numpy views, constants and names of what the C
headers and the core's tables define, through cffi.

A leaf: it imports nothing of aqmllm but the core binding, so every
component (bridge, daemon, models, sim) may import it.  Nothing here
restates a layout, a value or a name: field names, offsets and sizes come
from ``kmod/include/aqmllm_ring.h``, the fallback AQMs' names and ids from
the core's descriptor table (``kmod/core/aqm_alg.c``), the decision sources
from ``aqm_src_name()``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from aqmllm.bridge._aqmcore import ffi, lib

_SCALARS = {
    "uint8_t": "u1",
    "uint16_t": "<u2",
    "uint32_t": "<u4",
    "uint64_t": "<u8",
    "int8_t": "i1",
    "int16_t": "<i2",
    "int32_t": "<i4",
    "int64_t": "<i8",
}


def _field_format(ctype: Any, of: Any) -> str | np.dtype | tuple[str | np.dtype, int]:
    if ctype.kind == "primitive":
        return _SCALARS[ctype.cname]
    if ctype.kind == "struct":
        return struct_dtype(ctype, of)
    if ctype.kind == "array":
        item = ctype.item
        fmt = struct_dtype(item, of) if item.kind == "struct" else _SCALARS[item.cname]
        return (fmt, ctype.length)
    raise TypeError(f"unsupported field type {ctype.cname} in the ring ABI")


def struct_dtype(cname: str | Any, of: Any = None) -> np.dtype:
    """A numpy structured dtype with exactly the C struct's layout.

    `of`: the cffi module's ffi declaring the struct (default: the ring
    ABI's).  Nested structs and arrays of them become sub-dtypes; the
    members of an anonymous union are fields of their own at the same offset.
    """
    of = of or ffi
    ctype = of.typeof(cname) if isinstance(cname, str) else cname
    names, formats, offsets = [], [], []
    for name, field in ctype.fields:
        names.append(name)
        formats.append(_field_format(field.type, of))
        offsets.append(field.offset)
    return np.dtype(
        {"names": names, "formats": formats, "offsets": offsets, "itemsize": of.sizeof(ctype)}
    )


def _const(prefix: str, *exclude: str) -> dict[str, int]:
    """{suffix in lower case: value} of the integer constants named prefix*."""
    return {
        name[len(prefix) :].lower(): int(getattr(lib, name))
        for name in dir(lib)
        if name.startswith(prefix) and name not in exclude
    }


RECORD_DTYPE = struct_dtype("struct aqmllm_record")
VERDICT_DTYPE = struct_dtype("struct aqmllm_verdict")
HEADER_DTYPE = struct_dtype("struct aqmllm_region_hdr")
# One queue over one interval; its per-class part is the (2,) field "cls".
INTERVAL_DTYPE = struct_dtype("struct aqmllm_interval")
CLASS_IVL_DTYPE = struct_dtype("struct aqmllm_class_ivl")
# The collectors' decisions files: an array of (seq, action).
DECISION_DTYPE = struct_dtype("struct aqm_decision")

MAGIC = int(lib.AQMLLM_MAGIC)
ABI_VERSION = int(lib.AQMLLM_ABI_VERSION)

ACT_PASS = int(lib.AQMLLM_ACT_PASS)
ACT_DROP = int(lib.AQMLLM_ACT_DROP)
ACT_MARK = int(lib.AQMLLM_ACT_MARK)
CLASS_C = int(lib.AQMLLM_CLASS_C)
CLASS_L = int(lib.AQMLLM_CLASS_L)
ECN_NOT_ECT = int(lib.AQMLLM_ECN_NOT_ECT)
ECN_ECT1 = int(lib.AQMLLM_ECN_ECT1)
ECN_ECT0 = int(lib.AQMLLM_ECN_ECT0)
ECN_CE = int(lib.AQMLLM_ECN_CE)
VK_PACKET = int(lib.AQMLLM_VK_PACKET)
VK_POLICY = int(lib.AQMLLM_VK_POLICY)
VK_RESIDUAL = int(lib.AQMLLM_VK_RESIDUAL)
# What the producer exports (the header's export_mode), by name.
EXPORT_MODES: dict[str, int] = {
    "packets": int(lib.AQMLLM_EXPORT_PACKETS),
    "intervals": int(lib.AQMLLM_EXPORT_INTERVALS),
    "both": int(lib.AQMLLM_EXPORT_BOTH),
}
# Interval record flags (AQMLLM_IF_*), by name.
INTERVAL_FLAGS = _const("AQMLLM_IF_")
# The residual's bounds; the packet path clamps to them (Q8 log2 scales, us, ns).
RES_Q8_ONE = int(lib.AQMLLM_RES_Q8_ONE)
RES_MULT_MIN = int(lib.AQMLLM_RES_MULT_MIN)
RES_MULT_MAX = int(lib.AQMLLM_RES_MULT_MAX)
RES_TARGET_MIN = int(lib.AQMLLM_RES_TARGET_MIN)
RES_TARGET_MAX = int(lib.AQMLLM_RES_TARGET_MAX)
RES_STEP_MIN_US = int(lib.AQMLLM_RES_STEP_MIN_US)
RES_STEP_MAX_US = int(lib.AQMLLM_RES_STEP_MAX_US)
RES_MAX_TTL_NS = int(lib.AQMLLM_RES_MAX_TTL_NS)
IVL_MIN_NS = int(lib.AQMLLM_IVL_MIN_NS)
IVL_MAX_NS = int(lib.AQMLLM_IVL_MAX_NS)
# Record flags: the fallback's own decision for the packet, and overload.
RF_FB_DROP = int(lib.AQMLLM_RF_FB_DROP)
RF_FB_MARK = int(lib.AQMLLM_RF_FB_MARK)
RF_FB_SIGNAL = int(lib.AQMLLM_RF_FB_SIGNAL)
RF_OVERLOAD = int(lib.AQMLLM_RF_OVERLOAD)

COUNTER_NAMES = _const("AQMLLM_CNT_", "AQMLLM_CNT_COUNT", "AQMLLM_CNT_SLOTS")

# The fallback AQMs of the core: {name: AQMLLM_FB_* id}, in id order.
FALLBACKS: dict[str, int] = {
    ffi.string(lib.aqm_alg_by_id(i).name).decode(): i for i in range(lib.AQMLLM_FB_COUNT)
}


def _default_targets() -> dict[str, int]:
    """Each fallback's default classic delay target (ns) from the core's
    aqm_params_defaults; 0 where its parameters name no target."""
    out = {}
    for name, fb in FALLBACKS.items():
        par = ffi.new("struct aqm_params *")
        lib.aqm_params_defaults(par, fb)
        own = getattr(par, name, None)  # the algorithm's member of struct aqm_params
        out[name] = int(getattr(own, "target_ns", 0))
    return out


DEFAULT_TARGET_NS: dict[str, int] = _default_targets()
# Where a decision came from (AQM_SRC_*): the names in value order.
SOURCES: tuple[str, ...] = tuple(
    ffi.string(lib.aqm_src_name(i)).decode() for i in range(lib.AQM_SRC_COUNT)
)
