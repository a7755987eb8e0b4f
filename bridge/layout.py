"""numpy views of the ring ABI, derived from the C header through cffi.

Nothing here restates the layout: field names, offsets and sizes come
from ``kmod/include/aqmllm_ring.h`` as compiled into ``_layout``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from aqmllm.bridge._layout import ffi, lib

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


def _field_format(ctype: ffi.CType) -> str | tuple[str, int]:
    if ctype.kind == "primitive":
        return _SCALARS[ctype.cname]
    if ctype.kind == "array":
        return (_SCALARS[ctype.item.cname], ctype.length)
    raise TypeError(f"unsupported field type {ctype.cname} in the ring ABI")


def struct_dtype(cname: str, of: Any = None) -> np.dtype:
    """A numpy structured dtype with exactly the C struct's layout.

    `of`: the cffi module's ffi declaring the struct (default: the ring ABI's).
    """
    of = of or ffi
    ctype = of.typeof(cname)
    names, formats, offsets = [], [], []
    for name, field in ctype.fields:
        names.append(name)
        formats.append(_field_format(field.type))
        offsets.append(field.offset)
    return np.dtype(
        {"names": names, "formats": formats, "offsets": offsets, "itemsize": of.sizeof(ctype)}
    )


RECORD_DTYPE = struct_dtype("struct aqmllm_record")
VERDICT_DTYPE = struct_dtype("struct aqmllm_verdict")
HEADER_DTYPE = struct_dtype("struct aqmllm_region_hdr")

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

COUNTER_NAMES = {
    name[len("AQMLLM_CNT_") :].lower(): int(getattr(lib, name))
    for name in dir(lib)
    if name.startswith("AQMLLM_CNT_") and name not in ("AQMLLM_CNT_COUNT", "AQMLLM_CNT_SLOTS")
}
