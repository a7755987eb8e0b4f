"""The daemon's side of the shared ring.

Opens a Linux shared-memory ring file or the FreeBSD ``/dev/aqmllm`` device,
checks its identity and geometry, and exposes the record ring and the
interval ring as zero-copy numpy views.  Verdicts, policies and residuals
are written with vectorised numpy stores and published by advancing
``vd_prod``.  The layout comes from the C header through
:mod:`aqmllm.bridge.layout`; nothing here restates it.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import logging
import mmap
import os
import select
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from aqmllm.bridge import layout
from aqmllm.bridge._aqmcore import ffi, lib
from aqmllm.bridge.errors import AbiMismatch, RingBusy, RingError  # callers catch them from here

HDR = "struct aqmllm_region_hdr"
PROB_MAX = 2**32 - 1
# Waiting on a shm ring (no wakeups): sleeps grow from MIN while idle and
# drop back to MIN as soon as records show up.
SLEEP_MIN_S = 10e-6
SLEEP_MAX_S = 500e-6
# The header's single-word cells the daemon reads and writes while running.
CELLS = (
    "rec_prod",
    "rec_cons",
    "vd_prod",
    "vd_cons",
    "ivl_prod",
    "ivl_cons",
    "heartbeat_ns",
    "producer_clock_ns",
    "daemon_decisions",
)
PR_SET_TIMERSLACK = 29


def low_timer_slack() -> bool:
    """Ask Linux for 1 us timer slack on this thread, so short sleeps are short.

    The default 50 us slack would add 50 us to every poll of a shm ring.
    Returns False where the call does not exist (FreeBSD: kernel wakeups).
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_TIMERSLACK, 1000, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


log = logging.getLogger("aqmllmd")


def pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_header(path: str | os.PathLike[str]) -> np.ndarray:
    """A copy of a shm ring file's header, read-only: nothing is attached or kept mapped.

    Raises RingError when the file is missing, unreadable, too small, not
    an aqmllm ring (AbiMismatch: of another ABI version).
    """
    p = Path(path)
    try:
        with open(p, "rb") as f:
            if os.fstat(f.fileno()).st_size < layout.HEADER_DTYPE.itemsize:
                raise RingError(f"{p}: too small to be a ring")
            with mmap.mmap(f.fileno(), layout.HEADER_DTYPE.itemsize, prot=mmap.PROT_READ) as m:
                hdr = np.frombuffer(m, dtype=layout.HEADER_DTYPE, count=1)[0].copy()
    except FileNotFoundError:
        raise RingError(f"{p}: no ring here (is the producer running?)") from None
    except IsADirectoryError:
        raise RingError(f"{p}: is a directory, not a ring file") from None
    except OSError as exc:
        raise RingError(f"{p}: cannot read the ring: {exc.strerror or exc}") from None
    if int(hdr["magic"]) != layout.MAGIC:
        raise RingError(f"{p}: not an aqmllm ring (bad magic)")
    if int(hdr["abi_version"]) != layout.ABI_VERSION:
        raise AbiMismatch(
            f"{p}: ring ABI version {int(hdr['abi_version'])}, this build speaks"
            f" version {layout.ABI_VERSION}; upgrade the older side"
        )
    return hdr


def ring_owner(path: str | os.PathLike[str]) -> int | None:
    """The pid of the daemon holding a shm ring's owner lock, None if it is free.

    A shared lock cannot be had while an owner holds its exclusive one; the
    owner's pid is then the header's.
    """
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        try:
            return int(read_header(path)["daemon_pid"]) or -1
        except RingError:
            return -1
    finally:
        os.close(fd)  # drops the shared lock, if it was had
    return None


def _is_pow2(n: int) -> bool:
    return n > 0 and n & (n - 1) == 0


def probability_to_fixed(p: np.ndarray | float) -> np.ndarray:
    """Probabilities in [0, 1] as the ring's u32 fixed point (2^-32 units)."""
    arr = np.clip(np.nan_to_num(np.asarray(p, dtype=np.float64), nan=0.0), 0.0, 1.0)
    return np.minimum(np.round(arr * 2.0**32), PROB_MAX).astype(np.uint32)


@dataclass(frozen=True)
class Geometry:
    rec_entries: int
    vd_entries: int
    rec_offset: int
    vd_offset: int
    region_size: int
    nqueues: int
    ivl_entries: int
    ivl_offset: int


class Ring:
    """One mapped region.  Not thread-safe: one daemon loop owns it."""

    def __init__(
        self, buf: mmap.mmap, *, name: str, fd: int | None = None, device: bool = False
    ) -> None:
        self._buf = buf
        self._fd = fd
        self._device = device
        self._sleep = SLEEP_MIN_S
        self._identity = self._file_identity(os.fstat(fd)) if fd is not None else None
        self._claimed = False  # this mapping holds the ring's owner lock
        self._attached = False  # this mapping attached (and so detaches on close)
        self.name = name
        if len(buf) < ffi.sizeof(HDR):
            raise RingError(f"{name}: {len(buf)} bytes is smaller than the ring header")
        self.hdr = np.ndarray((), dtype=layout.HEADER_DTYPE, buffer=buf)
        self.geometry = self._validate(len(buf))
        g = self.geometry
        self.records = np.ndarray(
            (g.rec_entries,), dtype=layout.RECORD_DTYPE, buffer=buf, offset=g.rec_offset
        )
        self.verdicts = np.ndarray(
            (g.vd_entries,), dtype=layout.VERDICT_DTYPE, buffer=buf, offset=g.vd_offset
        )
        self.intervals = np.ndarray(
            (g.ivl_entries,), dtype=layout.INTERVAL_DTYPE, buffer=buf, offset=g.ivl_offset
        )
        self._vd_mask = g.vd_entries - 1
        # Single aligned 8-byte cells for the indices: one load or store each.
        self._cell = {
            name: np.ndarray((), dtype="<u8", buffer=buf, offset=ffi.offsetof(HDR, name))
            for name in CELLS
        }
        self._cons = int(self._cell["rec_cons"])
        self._icons = int(self._cell["ivl_cons"])
        self._vprod = int(self._cell["vd_prod"])
        # Per-packet verdicts are staged here (kind preset, the rest zero).
        self._stage = np.zeros(0, dtype=layout.VERDICT_DTYPE)
        self.last_clock_ns = 0
        # A simulator hides records younger than the inference latency.
        self.visible_before_ns: int | None = None
        # Whether wait() wakes for interval records (set by an interval loop).
        self.wants_intervals = False

    # ---- opening ----
    @classmethod
    def open_shm(cls, path: str | os.PathLike[str]) -> Ring:
        p = Path(path)
        try:
            fd = os.open(p, os.O_RDWR)
        except FileNotFoundError:
            raise RingError(f"{p}: no ring here (is the producer running?)") from None
        except PermissionError:
            raise RingError(f"{p}: permission denied (the daemon needs read/write)") from None
        except IsADirectoryError:
            raise RingError(f"{p}: is a directory, not a ring file") from None
        except OSError as exc:
            raise RingError(f"{p}: cannot open the ring: {exc.strerror}") from None
        try:
            size = os.fstat(fd).st_size
            if size < ffi.sizeof(HDR):
                raise RingError(f"{p}: {size} bytes is smaller than the ring header")
            buf = mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        except BaseException:
            os.close(fd)
            raise
        return cls(buf, name=str(p), fd=fd)

    @classmethod
    def open_device(cls, path: str = "/dev/aqmllm") -> Ring:
        try:
            from aqmllm.bridge import freebsd_dev
        except ImportError as exc:
            raise RingError(f"{path}: the FreeBSD device support is not available ({exc})") from exc
        fd, size = freebsd_dev.open_device(path)
        try:
            freebsd_dev.attach(fd)
            buf = freebsd_dev.map_region(fd, size)
        except BaseException:
            os.close(fd)
            raise
        return cls(buf, name=path, fd=fd, device=True)

    @classmethod
    def open(cls, path: str) -> Ring:
        """A character device is the kernel's ring; anything else a shm file."""
        try:
            is_dev = Path(path).is_char_device()
        except OSError:
            is_dev = False
        if Path(path).is_dir():
            raise RingError(f"{path}: is a directory, not a ring file")
        if is_dev and not sys.platform.startswith("freebsd"):
            raise RingError(
                f"{path}: a character device; the aqmllm device exists only on FreeBSD"
                " (dn_aqm_llm), elsewhere ring.path names a shared-memory ring file"
            )
        if not is_dev and Path(path).exists() and not Path(path).is_file():
            raise RingError(f"{path}: neither a ring file nor the aqmllm device")
        return cls.open_device(path) if is_dev else cls.open_shm(path)

    def _validate(self, mapped: int) -> Geometry:
        h = self.hdr
        magic, version = int(h["magic"]), int(h["abi_version"])
        if magic != layout.MAGIC:
            raise RingError(
                f"{self.name}: bad magic {magic:#018x} (expected {layout.MAGIC:#018x}):"
                " not an aqmllm ring"
            )
        if version != layout.ABI_VERSION:
            raise AbiMismatch(
                f"{self.name}: ring ABI version {version}, this daemon speaks version"
                f" {layout.ABI_VERSION}; upgrade the older side"
            )
        g = Geometry(
            rec_entries=int(h["rec_entries"]),
            vd_entries=int(h["vd_entries"]),
            rec_offset=int(h["rec_offset"]),
            vd_offset=int(h["vd_offset"]),
            region_size=int(h["region_size"]),
            nqueues=int(h["nqueues"]),
            ivl_entries=int(h["ivl_entries"]),
            ivl_offset=int(h["ivl_offset"]),
        )
        problems = []
        if int(h["hdr_size"]) != ffi.sizeof(HDR):
            problems.append(f"hdr_size {int(h['hdr_size'])} != {ffi.sizeof(HDR)}")
        if int(h["rec_size"]) != layout.RECORD_DTYPE.itemsize:
            problems.append(f"rec_size {int(h['rec_size'])}")
        if int(h["vd_size"]) != layout.VERDICT_DTYPE.itemsize:
            problems.append(f"vd_size {int(h['vd_size'])}")
        if int(h["ivl_size"]) != layout.INTERVAL_DTYPE.itemsize:
            problems.append(f"ivl_size {int(h['ivl_size'])}")
        for name, n in (
            ("rec_entries", g.rec_entries),
            ("vd_entries", g.vd_entries),
            ("ivl_entries", g.ivl_entries),
        ):
            if not _is_pow2(n) or not lib.AQMLLM_MIN_ENTRIES <= n <= lib.AQMLLM_MAX_ENTRIES:
                problems.append(f"{name} {n} is not a power of two in range")
        rec_end = g.rec_offset + g.rec_entries * layout.RECORD_DTYPE.itemsize
        vd_end = g.vd_offset + g.vd_entries * layout.VERDICT_DTYPE.itemsize
        ivl_end = g.ivl_offset + g.ivl_entries * layout.INTERVAL_DTYPE.itemsize
        if g.rec_offset < ffi.sizeof(HDR) or g.vd_offset < rec_end or g.ivl_offset < vd_end:
            problems.append("ring offsets overlap the header or each other")
        if max(rec_end, vd_end, ivl_end) > min(g.region_size, mapped):
            problems.append(f"rings end beyond the region ({mapped} bytes mapped)")
        if g.nqueues == 0:
            problems.append("nqueues is 0")
        if problems:
            raise RingError(f"{self.name}: corrupt ring header: " + "; ".join(problems))
        return g

    @staticmethod
    def _file_identity(st: os.stat_result) -> tuple[int, int]:
        return (st.st_dev, st.st_ino)

    def replaced(self) -> bool:
        """Whether a shm ring's path now names another file, or none.

        Producers make a new file for each run (see kmod/linux/aqm_shm.c);
        the mapping of the old one stays valid, so this is checked, not
        trapped.  Always False for the kernel device.
        """
        if self._device or self._identity is None:
            return False
        try:
            return self._file_identity(os.stat(self.name)) != self._identity
        except OSError:
            return True

    # ---- ownership: one daemon per ring ----
    def claim(self) -> int | None:
        """Become the ring's one daemon, or raise RingBusy naming the owner.

        The kernel device refuses a second daemon itself (EBUSY at attach);
        a shm ring is claimed with an exclusive advisory lock on its file,
        which the kernel releases when the owner dies, however it dies.  A
        free lock under a header that still names a live-looking owner means
        that owner died without detaching (kill -9): it is taken over, and
        its pid is returned so the caller can say so.
        """
        if self._device or self._fd is None or self._claimed:
            return None
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise RingError(f"{self.name}: cannot lock the ring: {exc.strerror}") from None
            owner = int(self.hdr["daemon_pid"])
            if owner:
                why = f"another aqmllmd (pid {owner}) owns this ring; stop it first"
            else:
                why = "another process holds this ring's lock"
            raise RingBusy(f"{self.name}: {why} (one daemon per ring)") from None
        self._claimed = True
        previous = int(self.hdr["daemon_pid"])
        if (
            previous
            and previous != os.getpid()
            and int(self.hdr["daemon_state"]) != int(lib.AQMLLM_DS_DETACHED)
        ):
            return previous
        return None

    # ---- daemon line ----
    def attach(self) -> None:
        stale = self.claim()
        if stale is not None:
            log.warning(
                "%s: taking the ring over from pid %d, which %s without detaching",
                self.name,
                stale,
                "still runs but does not hold the lock" if pid_alive(stale) else "died",
            )
        self.hdr["daemon_pid"] = os.getpid()
        self._attached = True
        self.heartbeat()
        self.hdr["daemon_state"] = lib.AQMLLM_DS_ATTACHED

    def set_policy_off(self, off: bool) -> None:
        self.hdr["daemon_state"] = lib.AQMLLM_DS_POLICY_OFF if off else lib.AQMLLM_DS_ATTACHED

    def record_fallbacks(self, episodes: int, closed_ns: int, since_ns: int) -> None:
        """The daemon's fallback episodes, for display (aqmllmctl stats)."""
        self.hdr["daemon_fallbacks"] = episodes
        self.hdr["daemon_fallback_ns"] = closed_ns
        self.hdr["daemon_fallback_since_ns"] = since_ns

    def detach(self) -> None:
        self.hdr["daemon_state"] = lib.AQMLLM_DS_DETACHED

    def producer_clock(self) -> int:
        return max(int(self._cell["producer_clock_ns"]), self.last_clock_ns)

    def heartbeat_age_ns(self) -> int:
        """How old the daemon's heartbeat is on the producer's clock (0 if just echoed)."""
        return max(0, int(self._cell["producer_clock_ns"]) - int(self._cell["heartbeat_ns"]))

    def heartbeat(self) -> None:
        """Echo the producer's clock: the producer judges liveness by it."""
        self._cell["heartbeat_ns"][...] = self.producer_clock()

    # ---- records ----
    def pending(self) -> int:
        return int(self._cell["rec_prod"]) - self._cons

    def peek(self, max_n: int, before_ns: int | None = None) -> list[np.ndarray]:
        """Up to max_n unread records as views (two when the ring wraps).

        With before_ns, only records produced at or before that producer
        time (a simulator models inference latency this way).  The views
        stay valid until :meth:`consume` hands the slots back.
        """
        return self._unread(self.records, "rec_prod", self._cons, "record", max_n, before_ns)

    def _unread(
        self,
        ring: np.ndarray,
        prod_cell: str,
        cons: int,
        what: str,
        max_n: int,
        before_ns: int | None,
    ) -> list[np.ndarray]:
        """Up to max_n entries of ``ring`` from ``cons`` on, as views (two when it wraps);
        with before_ns (or ``visible_before_ns``), only those of t_ns at or before it."""
        prod = int(self._cell[prod_cell])
        avail = prod - cons
        if avail < 0 or avail > len(ring):
            raise RingError(f"{self.name}: {what} indices inconsistent (prod {prod}, cons {cons})")
        n = min(avail, max_n)
        if n == 0:
            return []
        start = cons & (len(ring) - 1)
        first = min(n, len(ring) - start)
        views = [ring[start : start + first]]
        if first < n:
            views.append(ring[: n - first])
        if before_ns is None:
            before_ns = self.visible_before_ns
        if before_ns is not None:
            kept = []
            for v in views:
                k = int(np.searchsorted(v["t_ns"], np.uint64(before_ns), side="right"))
                kept.append(v[:k])
                if k < len(v):
                    break
            views = [v for v in kept if len(v)]
            if not views:
                return []
        self.last_clock_ns = max(self.last_clock_ns, int(views[-1]["t_ns"][-1]))
        return views

    def consume(self, n: int) -> None:
        self._cons += n
        self._cell["rec_cons"][...] = self._cons

    # ---- interval records ----
    def export_mode(self) -> str:
        """What the producer exports now: "packets", "intervals" or "both"."""
        mode = int(self.hdr["export_mode"])
        for name, value in layout.EXPORT_MODES.items():
            if value == mode:
                return name
        return "unknown"

    def interval_ns(self) -> int:
        """The configured interval length (0: each queue's fallback Tupdate)."""
        return int(self.hdr["interval_ns"])

    def pending_intervals(self) -> int:
        return int(self._cell["ivl_prod"]) - self._icons

    def peek_intervals(self, max_n: int, before_ns: int | None = None) -> list[np.ndarray]:
        """Up to max_n unread interval records as views (two when the ring wraps).

        As :meth:`peek`: with before_ns, only records whose interval ended at
        or before that producer time; the views stay valid until
        :meth:`consume_intervals` hands the slots back.
        """
        return self._unread(self.intervals, "ivl_prod", self._icons, "interval", max_n, before_ns)

    def consume_intervals(self, n: int) -> None:
        self._icons += n
        self._cell["ivl_cons"][...] = self._icons

    def skip_intervals(self) -> int:
        """Hand back every unread interval record (a daemon that does not use them)."""
        n = max(0, min(self.pending_intervals(), self.geometry.ivl_entries))
        if n:
            self.consume_intervals(n)
        return n

    def resync(self) -> None:
        """Skip to the producer's index (it restarted, or ours was garbage).

        A producer that restarted with another geometry cannot be followed
        through the same mapping: that is a RingError (reopen the ring).
        """
        if self._validate(len(self._buf)) != self.geometry:
            raise RingError(f"{self.name}: the producer re-created the ring with another geometry")
        self._cons = int(self._cell["rec_prod"])
        self._cell["rec_cons"][...] = self._cons
        self._icons = int(self._cell["ivl_prod"])
        self._cell["ivl_cons"][...] = self._icons
        self._vprod = int(self._cell["vd_cons"])
        self._cell["vd_prod"][...] = self._vprod
        self.last_clock_ns = 0

    # ---- verdicts ----
    def verdict_space(self) -> int:
        return self.geometry.vd_entries - (self._vprod - int(self._cell["vd_cons"]))

    def _slots(self, n: int) -> np.ndarray:
        return (self._vprod + np.arange(n, dtype=np.uint64)) & np.uint64(self._vd_mask)

    def _publish(self, n: int) -> None:
        self._vprod += n
        self._cell["vd_prod"][...] = self._vprod

    def _store(self, staged: np.ndarray) -> None:
        """Copy staged verdicts into the next slots (one or two block copies)."""
        n = len(staged)
        start = self._vprod & self._vd_mask
        first = min(n, self.geometry.vd_entries - start)
        self.verdicts[start : start + first] = staged[:first]
        if first < n:
            self.verdicts[: n - first] = staged[first:]

    def write_verdicts(self, seqs: np.ndarray, actions: np.ndarray) -> int:
        """Per-packet verdicts; returns how many fitted (the rest are dropped).

        The slots are filled completely before ``vd_prod`` moves past them
        (x86 keeps stores in order; the producer loads vd_prod with acquire).
        """
        n = min(len(seqs), max(self.verdict_space(), 0))
        if n == 0:
            return 0
        if len(self._stage) < n:
            self._stage = np.zeros(max(n, 2 * len(self._stage)), dtype=layout.VERDICT_DTYPE)
            self._stage["kind"] = lib.AQMLLM_VK_PACKET
        staged = self._stage[:n]
        staged["seq"] = seqs[:n]
        staged["action"] = actions[:n]
        self._store(staged)
        self._publish(n)
        self._cell["daemon_decisions"][...] = int(self._cell["daemon_decisions"]) + n
        return n

    def write_policies(
        self,
        queue_ids: np.ndarray,
        drop_prob: np.ndarray,
        mark_prob: np.ndarray,
        expiry_ns: int | np.ndarray,
    ) -> int:
        """Per-queue policies (probabilities in [0, 1], expiry on the producer clock)."""
        q = np.asarray(queue_ids, dtype=np.uint32)
        bad = q >= self.geometry.nqueues
        if bad.any():
            raise ValueError(f"queue id {int(q[bad][0])} >= nqueues {self.geometry.nqueues}")
        n = min(len(q), max(self.verdict_space(), 0))
        if n == 0:
            return 0
        slots = self._slots(n)
        v = self.verdicts
        v["seq"][slots] = 0
        v["kind"][slots] = lib.AQMLLM_VK_POLICY
        v["action"][slots] = 0
        v["flags"][slots] = 0
        v["queue_id"][slots] = q[:n]
        v["drop_prob"][slots] = probability_to_fixed(drop_prob)[:n]
        v["mark_prob"][slots] = probability_to_fixed(mark_prob)[:n]
        v["expiry_ns"][slots] = np.broadcast_to(np.asarray(expiry_ns, dtype=np.uint64), (len(q),))[
            :n
        ]
        self._publish(n)
        return n

    def write_residuals(
        self,
        queue_ids: np.ndarray,
        seqs: np.ndarray,
        log2_mult: np.ndarray,
        step_us: np.ndarray,
        log2_target: np.ndarray,
        expiry_ns: int | np.ndarray,
    ) -> int:
        """Residual verdicts, one per queue; returns how many fitted.

        ``seqs``: the interval record each answers; ``log2_mult`` (n, 2) per
        class (CLASS_C, CLASS_L) and ``log2_target`` in Q8 fixed point
        (``layout.RES_Q8_ONE`` is x2), ``step_us`` the L step (0 keeps it),
        ``expiry_ns`` on the producer's clock.  Out-of-range values are
        the producer's to clamp (and count); here they are only saturated
        into the fields' integer types.
        """
        q = np.asarray(queue_ids, dtype=np.int64).reshape(-1)
        bad = (q < 0) | (q >= self.geometry.nqueues)
        if bad.any():
            raise ValueError(f"queue id {int(q[bad][0])} >= nqueues {self.geometry.nqueues}")
        n = min(len(q), max(self.verdict_space(), 0))
        if n == 0:
            return 0
        i16 = np.iinfo(np.int16)
        mult = np.clip(np.asarray(log2_mult, dtype=np.int64).reshape(-1, 2), i16.min, i16.max)
        target = np.clip(np.asarray(log2_target, dtype=np.int64).reshape(-1), i16.min, i16.max)
        step = np.clip(np.asarray(step_us, dtype=np.int64).reshape(-1), 0, np.iinfo(np.uint16).max)
        staged = np.zeros(n, dtype=layout.VERDICT_DTYPE)
        staged["seq"] = np.asarray(seqs, dtype=np.uint64).reshape(-1)[:n]
        staged["kind"] = layout.VK_RESIDUAL
        staged["queue_id"] = q[:n]
        staged["res_log2_mult"] = mult[:n]
        staged["res_step_us"] = step[:n]
        staged["res_log2_target"] = target[:n]
        staged["expiry_ns"] = np.broadcast_to(np.asarray(expiry_ns, dtype=np.uint64), (len(q),))[:n]
        self._store(staged)
        self._publish(n)
        return n

    # ---- waiting and stats ----
    def anything_pending(self) -> bool:
        """Records to read, or interval records when an interval loop reads them."""
        return self.pending() > 0 or (self.wants_intervals and self.pending_intervals() > 0)

    def wait(self, timeout_s: float, busy_poll_s: float = 0.0) -> bool:
        """Block until records (or, see ``wants_intervals``, interval records)
        are pending or the timeout passes.

        The kernel device wakes poll(2) once per batch (and on empty ->
        non-empty).  A shm file cannot signal: after an optional bounded
        busy spin it is polled with short sleeps that grow while the ring
        stays idle (10 us doubling to 500 us) and shrink back on traffic;
        see :func:`low_timer_slack` for making the short ones short.
        """
        if self.anything_pending():
            self._sleep = SLEEP_MIN_S
            return True
        now = time.monotonic()
        deadline = now + timeout_s
        if busy_poll_s > 0:
            spin_until = now + min(busy_poll_s, timeout_s)
            while time.monotonic() < spin_until:
                if self.anything_pending():
                    self._sleep = SLEEP_MIN_S
                    return True
        if self._device and self._fd is not None:
            p = select.poll()
            p.register(self._fd, select.POLLIN)
            p.poll(max(0, int((deadline - time.monotonic()) * 1000)))
            return self.anything_pending()
        while time.monotonic() < deadline:
            time.sleep(self._sleep)
            if self.anything_pending():
                self._sleep = SLEEP_MIN_S
                return True
            self._sleep = min(self._sleep * 2, SLEEP_MAX_S)
        return False

    def counters(self) -> dict[str, int]:
        c = self.hdr["counters"]
        return {name: int(c[i]) for name, i in sorted(layout.COUNTER_NAMES.items())}

    def close(self) -> None:
        # Only the mapping that attached detaches: one refused by the owner
        # lock must not take the ring from under the daemon that has it.
        if self._attached:
            try:
                self.detach()
            except (ValueError, TypeError):
                pass
        self.hdr = None  # type: ignore[assignment]
        self.records = self.verdicts = self.intervals = None  # type: ignore[assignment]
        self._cell.clear()
        try:
            close = getattr(self._buf, "close", None)  # a device mapping has none:
            if close is not None:  # it goes with its last view
                close()
        except BufferError:
            pass  # views still exported elsewhere; the mapping goes with them
        if self._fd is not None:
            if self._device:  # tell the kernel too (closing the fd also would)
                try:
                    from aqmllm.bridge import freebsd_dev

                    freebsd_dev.detach(self._fd)
                except (ImportError, OSError):
                    pass
            os.close(self._fd)  # releases the owner lock with the descriptor
            self._fd = None
            self._claimed = self._attached = False

    def __enter__(self) -> Ring:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
