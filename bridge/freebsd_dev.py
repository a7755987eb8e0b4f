"""/dev/aqmllm from userspace: FreeBSD ioctl numbers and calls.

Request numbers are encoded as FreeBSD's <sys/ioccom.h> does, from the
group letter, command numbers and struct sizes of kmod/include/aqmllm_dev.h
(taken through cffi), so Linux and FreeBSD compute the same values.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os

from aqmllm.bridge._aqmcore import ffi, lib
from aqmllm.bridge.errors import RingError
from aqmllm.bridge.layout import COUNTER_NAMES

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
IOC_MAP = _ior(G, lib.AQMLLM_IOC_MAP_NR, ffi.sizeof("struct aqmllm_map"))


def _call(fd: int, req: int, ctype: str, fill: dict[str, int] | None = None):
    buf = bytearray(ffi.sizeof(ctype))
    if fill:
        obj = ffi.from_buffer(f"{ctype} *", buf)
        for k, v in fill.items():
            setattr(obj, k, v)
    fcntl.ioctl(fd, req, buf, True)
    return ffi.from_buffer(f"{ctype} *", buf)


def _open(path: str, flags: int) -> int:
    try:
        return os.open(path, flags)
    except FileNotFoundError:
        raise DeviceError(f"{path}: no such device (kldload dn_aqm_llm)") from None
    except PermissionError:
        raise DeviceError(f"{path}: permission denied (the device is root-only)") from None


def read_info(fd: int, path: str):
    """AQMLLM_IOC_INFO: what the kernel says of its ring."""
    try:
        return _call(fd, IOC_INFO, "struct aqmllm_info")
    except OSError as exc:
        raise DeviceError(
            f"{path}: not the aqmllm device ({os.strerror(exc.errno or 0)});"
            " ring.path should be /dev/aqmllm"
        ) from None


def _is_pow2_in_range(n: int) -> bool:
    return n & (n - 1) == 0 and lib.AQMLLM_MIN_ENTRIES <= n <= lib.AQMLLM_MAX_ENTRIES


def info_problem(path: str, info) -> str | None:
    """Why the kernel's ring is not one this daemon can use, or None: its ABI, then
    its geometry (power-of-two rings, queues, and the region size the core computes)."""
    if info.abi_version != lib.AQMLLM_ABI_VERSION:
        return (
            f"{path}: kernel ring ABI {info.abi_version}, this daemon"
            f" speaks {lib.AQMLLM_ABI_VERSION}"
        )
    rings = {"rec": info.rec_entries, "vd": info.vd_entries, "ivl": info.ivl_entries}
    bad = [f"{k}_entries {int(n)}" for k, n in rings.items() if not _is_pow2_in_range(int(n))]
    if info.nqueues == 0:
        bad.append("nqueues 0")
    if not bad:
        geom = ffi.new(
            "struct aqm_geom *",
            {
                "rec_entries": info.rec_entries,
                "vd_entries": info.vd_entries,
                "ivl_entries": info.ivl_entries,
                "nqueues": info.nqueues,
            },
        )
        want = int(lib.aqm_region_size(geom))
        if int(info.region_size) != want:
            bad.append(f"region_size {int(info.region_size)}, its geometry makes {want}")
    if bad:
        return f"{path}: the kernel reports a ring this daemon cannot use: {'; '.join(bad)}"
    return None


def open_device(path: str = "/dev/aqmllm") -> tuple[int, int]:
    fd = _open(path, os.O_RDWR)
    try:
        info = read_info(fd, path)
        why = info_problem(path, info)
        if why:
            raise DeviceError(why)
        return fd, int(info.region_size)
    except BaseException:
        os.close(fd)
        raise


def probe_device(path: str = "/dev/aqmllm"):
    """The device's INFO, read through a read-only descriptor (nothing attached or mapped);
    DeviceError, one sentence, when it cannot be opened, is not the device or is unusable."""
    fd = _open(path, os.O_RDONLY)
    try:
        info = read_info(fd, path)
    finally:
        os.close(fd)
    why = info_problem(path, info)
    if why:
        raise DeviceError(why)
    return info


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


def _munmap(addr: int, size: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    libc.munmap(addr, size)


def map_region(fd: int, size: int):
    """The ring, mapped read/write (never executable) by AQMLLM_IOC_MAP.

    The device refuses mmap(2), whose maximum protection would allow
    PROT_EXEC. The result is a buffer; the mapping is undone when the
    last view of it (numpy arrays included) is gone.
    """
    try:
        m = _call(fd, IOC_MAP, "struct aqmllm_map")
    except OSError as exc:
        if exc.errno == errno.ENOTTY:
            raise DeviceError(
                "the loaded dn_aqm_llm cannot map its ring for this daemon"
                " (AQMLLM_IOC_MAP unknown): load the matching module"
            ) from None
        raise DeviceError(f"mapping the ring failed: {os.strerror(exc.errno or 0)}") from None
    addr, mapped = int(m.addr), int(m.size)
    if mapped < size:
        _munmap(addr, mapped)
        raise DeviceError(f"the kernel mapped {mapped} bytes of a {size}-byte ring")
    base = ffi.gc(ffi.cast("char *", addr), lambda _p: _munmap(addr, mapped))
    return ffi.buffer(base, size)


def detach(fd: int) -> None:
    fcntl.ioctl(fd, IOC_DETACH)


def device_stats(fd: int) -> dict[str, int]:
    st = _call(fd, IOC_STATS, "struct aqmllm_stats")
    out = {name: int(st.counters[i]) for name, i in sorted(COUNTER_NAMES.items())}
    out["queues"] = int(st.queues)
    out["wakeups_sent"] = int(st.wakeups_sent)
    return out
