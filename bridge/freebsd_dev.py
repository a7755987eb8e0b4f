"""/dev/aqmllm from userspace: FreeBSD ioctl numbers and calls.

Request numbers are encoded as FreeBSD's <sys/ioccom.h> does, from the
group letter, command numbers and struct sizes of kmod/include/aqmllm_dev.h
(taken through cffi), so Linux and FreeBSD compute the same values.
"""

from __future__ import annotations

import errno
import fcntl
import os

from aqmllm.bridge._layout import ffi, lib
from aqmllm.bridge.ring import RingError

IOCPARM_MASK = 0x1FFF
IOC_VOID = 0x20000000
IOC_OUT = 0x40000000
IOC_IN = 0x80000000


class DeviceError(RingError):
    """The device is missing, busy, or speaks another ABI."""


def _ioc(inout: int, group: int | str, num: int, length: int) -> int:
    g = ord(group) if isinstance(group, str) else group
    return inout | ((length & IOCPARM_MASK) << 16) | (g << 8) | num


def _io(group: int | str, num: int) -> int:
    return _ioc(IOC_VOID, group, num, 0)


def _ior(group: int | str, num: int, length: int) -> int:
    return _ioc(IOC_OUT, group, num, length)


def _iow(group: int | str, num: int, length: int) -> int:
    return _ioc(IOC_IN, group, num, length)


G = lib.AQMLLM_IOC_GROUP
IOC_INFO = _ior(G, lib.AQMLLM_IOC_INFO_NR, ffi.sizeof("struct aqmllm_info"))
IOC_ATTACH = _iow(G, lib.AQMLLM_IOC_ATTACH_NR, ffi.sizeof("struct aqmllm_attach"))
IOC_DETACH = _io(G, lib.AQMLLM_IOC_DETACH_NR)
IOC_STATS = _ior(G, lib.AQMLLM_IOC_STATS_NR, ffi.sizeof("struct aqmllm_stats"))


def _call(fd: int, req: int, ctype: str, fill: dict[str, int] | None = None):
    buf = bytearray(ffi.sizeof(ctype))
    if fill:
        obj = ffi.from_buffer(f"{ctype} *", buf)
        for k, v in fill.items():
            setattr(obj, k, v)
    fcntl.ioctl(fd, req, buf, True)
    return ffi.from_buffer(f"{ctype} *", buf)


def open_device(path: str = "/dev/aqmllm") -> tuple[int, int]:
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        raise DeviceError(f"{path}: no such device (kldload dn_aqm_llm)") from None
    except PermissionError:
        raise DeviceError(f"{path}: permission denied (the device is root-only)") from None
    try:
        try:
            info = _call(fd, IOC_INFO, "struct aqmllm_info")
        except OSError as exc:
            raise DeviceError(
                f"{path}: not the aqmllm device ({os.strerror(exc.errno or 0)});"
                " ring.path should be /dev/aqmllm"
            ) from None
        if info.abi_version != lib.AQMLLM_ABI_VERSION:
            raise DeviceError(
                f"{path}: kernel ring ABI {info.abi_version}, this daemon"
                f" speaks {lib.AQMLLM_ABI_VERSION}"
            )
        return fd, int(info.region_size)
    except BaseException:
        os.close(fd)
        raise


def attach(fd: int) -> None:
    try:
        _call(
            fd,
            IOC_ATTACH,
            "struct aqmllm_attach",
            {"abi_version": lib.AQMLLM_ABI_VERSION, "flags": 0},
        )
    except OSError as exc:
        if exc.errno == errno.EBUSY:
            raise DeviceError(
                "another aqmllmd is attached to /dev/aqmllm (one daemon per ring); stop it first"
            ) from None
        raise DeviceError(f"attach failed: {os.strerror(exc.errno or 0)}") from None


def detach(fd: int) -> None:
    fcntl.ioctl(fd, IOC_DETACH)


def device_stats(fd: int) -> dict[str, int]:
    from aqmllm.bridge.layout import COUNTER_NAMES

    st = _call(fd, IOC_STATS, "struct aqmllm_stats")
    out = {name: int(st.counters[i]) for name, i in sorted(COUNTER_NAMES.items())}
    out["queues"] = int(st.queues)
    out["wakeups_sent"] = int(st.wakeups_sent)
    return out
