"""aqmllmctl stats: what the packet path and its daemon are doing, for people or machines.

Read from the ring, never attached: a shm ring file's header on Linux, the
device's authoritative counters (and its header, mapped read-only) on
FreeBSD.  Shown: the ring, the daemon's liveness (its state, whether its
pid runs, and its heartbeat's age against the verdict timeout), fallback
episodes, records, who decided (verdict, policy, fallback) and what
(pass, drop, mark), verdicts accepted and rejected by reason, guardrails;
the interval tier: what is exported and how often, interval records, and
residual verdicts accepted, clamped, rejected and expired; with
``-w SECONDS`` each also as a rate over that interval.  Every
counter is explained in aqmllmctl(8); the sentences live in
:mod:`aqmllm.bridge.counters`.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from aqmllm.bridge import counters, layout
from aqmllm.bridge._aqmcore import lib
from aqmllm.bridge.ring import RingError, pid_alive, read_header

DEFAULT_SHM = "/dev/shm/aqmllm"
DEVICE = "/dev/aqmllm"
STATES = {
    int(lib.AQMLLM_DS_DETACHED): "detached",
    int(lib.AQMLLM_DS_ATTACHED): "attached",
    int(lib.AQMLLM_DS_POLICY_OFF): "policy off",
}
FALLBACKS = {i: name for name, i in layout.FALLBACKS.items()}  # id -> name, from the core
EXPORTS = {i: name for name, i in layout.EXPORT_MODES.items()}  # AQMLLM_EXPORT_* -> name


@dataclass
class Sample:
    """One reading of the ring."""

    at: float  # time.monotonic() of the reading
    header: np.ndarray
    counters: dict[str, int]


def _device_sample(path: str) -> Sample:
    import mmap

    from aqmllm.bridge import freebsd_dev

    fd, _ = freebsd_dev.open_device(path)  # checks the ABI (exit 2 on another)
    try:
        values = freebsd_dev.device_stats(fd)
        with mmap.mmap(fd, layout.HEADER_DTYPE.itemsize, prot=mmap.PROT_READ) as m:
            header = np.frombuffer(m, dtype=layout.HEADER_DTYPE, count=1)[0].copy()
    finally:
        os.close(fd)
    return Sample(time.monotonic(), header, {k: values[k] for k in layout.COUNTER_NAMES})


def default_ring() -> str:
    return DEVICE if sys.platform.startswith("freebsd") else DEFAULT_SHM


def read_sample(path: str) -> Sample:
    if Path(path).is_char_device():
        if not sys.platform.startswith("freebsd"):
            raise RingError(
                f"{path}: a character device; the aqmllm device exists only on FreeBSD"
                " (on Linux --ring names a shared-memory ring file)"
            )
        return _device_sample(path)
    header = read_header(path)  # RingError / AbiMismatch name the problem
    c = header["counters"]
    return Sample(time.monotonic(), header, {n: int(c[i]) for n, i in layout.COUNTER_NAMES.items()})


def liveness(h: np.ndarray) -> dict[str, Any]:
    """Whether a daemon decides, from its state, its pid and its heartbeat's age."""
    state = STATES.get(int(h["daemon_state"]), f"unknown ({int(h['daemon_state'])})")
    pid = int(h["daemon_pid"])
    age_ns = max(0, int(h["producer_clock_ns"]) - int(h["heartbeat_ns"]))
    timeout_ns = int(h["verdict_timeout_ns"])
    if state == "detached":
        verdict = "no daemon: the fallback decides"
    elif pid and not pid_alive(pid):
        verdict = f"dead (pid {pid} is gone): the fallback decides"
    elif timeout_ns and age_ns > timeout_ns:
        verdict = f"not answering for {age_ns / 1e6:.1f} ms: the fallback decides"
    elif state == "policy off":
        verdict = "alive, policy off: the fallback decides"
    else:
        verdict = "alive and deciding"
    return {
        "state": state,
        "pid": pid,
        "heartbeat_age_ms": age_ns / 1e6,
        "verdict_timeout_ms": timeout_ns / 1e6,
        "summary": verdict,
        "fallback_episodes": int(h["daemon_fallbacks"]),
        "fallback_seconds": _fallback_seconds(h),
        "decisions": int(h["daemon_decisions"]),
    }


def _fallback_seconds(h: np.ndarray) -> float:
    closed = int(h["daemon_fallback_ns"])
    since = int(h["daemon_fallback_since_ns"])
    now = int(h["producer_clock_ns"])
    return (closed + (max(0, now - since) if since else 0)) / 1e9


def derived(c: dict[str, int]) -> dict[str, int]:
    decided = c["src_verdict"] + c["src_policy"] + c["src_fallback"]

    def total(prefix: str) -> int:
        return sum(v for k, v in c.items() if k.startswith(prefix))

    return {
        "decided": decided,
        "pass": max(0, decided - c["drops"] - c["marks"]),
        "rejected": total("rej_"),
        "residuals_clamped": total("res_clamp_"),
        "residuals_rejected": total("res_rej_"),
    }


def export(h: np.ndarray) -> dict[str, Any]:
    """What the ring exports (packets, intervals, both) and the interval length."""
    mode = int(h["export_mode"])
    interval_ns = int(h["interval_ns"])
    return {
        "mode": EXPORTS.get(mode, f"unknown ({mode})"),
        "interval_ms": interval_ns / 1e6,  # 0: each queue's fallback update interval
    }


def report(path: str, first: Sample, last: Sample | None = None) -> dict[str, Any]:
    """The JSON document (also what the text is made from)."""
    s = last or first
    h = s.header
    out: dict[str, Any] = {
        "ring": path,
        "abi_version": int(h["abi_version"]),
        "geometry": {
            "records": int(h["rec_entries"]),
            "verdict_slots": int(h["vd_entries"]),
            "queues": int(h["nqueues"]),
            "batch_size": int(h["batch_size"]),
            "interval_records": int(h["ivl_entries"]),
        },
        "export": export(h),
        "fallback": FALLBACKS.get(int(h["fb_id"]), str(int(h["fb_id"]))),
        "daemon": liveness(h),
        "counters": dict(s.counters),
        "derived": derived(s.counters),
    }
    if last is not None:
        dt = max(last.at - first.at, 1e-9)
        a = {**first.counters, **derived(first.counters)}
        b = {**last.counters, **derived(last.counters)}
        out["interval_s"] = round(dt, 3)
        out["rates_per_s"] = {k: (b[k] - a[k]) / dt for k in b}
        d0, d1 = int(first.header["daemon_decisions"]), int(last.header["daemon_decisions"])
        out["rates_per_s"]["daemon_decisions"] = (d1 - d0) / dt
    return out


def _n(v: float) -> str:
    return f"{int(v):,}"


def _share(part: int, whole: int) -> str:
    return f"{100 * part / whole:5.1f} %" if whole else "    - "


def render(doc: dict[str, Any]) -> str:
    c, d, live = doc["counters"], doc["derived"], doc["daemon"]
    values = {**c, **d}
    rates = doc.get("rates_per_s")
    g = doc["geometry"]
    queues = f"{g['queues']} queue{'s' if g['queues'] != 1 else ''}"
    ex = doc["export"]
    every = (
        f"every {ex['interval_ms']:g} ms"
        if ex["interval_ms"]
        else "at each fallback's update interval"
    )
    lines = [
        f"ring        {doc['ring']}: ABI {doc['abi_version']}, {g['records']} records,"
        f" {g['verdict_slots']} verdict slots, {g['interval_records']} interval records,"
        f" {queues}, fallback {doc['fallback']}",
        f"exports     {ex['mode']}" + (f", intervals {every}" if ex["mode"] != "packets" else ""),
        f"daemon      {live['summary']}"
        + (f" (pid {live['pid']}, {live['state']})" if live["pid"] else ""),
        f"            heartbeat {live['heartbeat_age_ms']:.1f} ms old"
        f" (verdict timeout {live['verdict_timeout_ms']:.1f} ms)",
        f"            fallback episodes {live['fallback_episodes']},"
        f" {live['fallback_seconds']:.1f} s in all",
    ]
    if rates is not None:
        lines.append(f"over the last {doc['interval_s']:g} s:")

    def row(head: str, label: str, key: str, share: bool = False) -> None:
        pct = _share(values[key], d["decided"]) if share else " " * 7
        tail = f"  {rates[key]:>12,.0f}/s" if rates is not None else ""
        lines.append(f"{head:<11} {label:<18} {_n(values[key]):>14} {pct}{tail}")

    row("records", "written", "records")
    row("", "lost (ring full)", "overflows")
    row("decided by", "verdict", "src_verdict", share=True)
    row("", "policy", "src_policy", share=True)
    row("", "fallback", "src_fallback", share=True)
    row("", "  stale heartbeat", "stale_daemon")
    row("outcome", "pass", "pass", share=True)
    row("", "drop", "drops", share=True)
    row("", "mark", "marks", share=True)
    row("verdicts", "accepted", "verdicts_in")
    row("", "rejected", "rejected")
    _details(lines, c, ("verdicts rejected",))
    guards = [n for n in counters.ring_counter_names() if counters.info(n).group == "guardrails"]
    values["guardrails"] = sum(c[n] for n in guards)
    if rates is not None:
        rates["guardrails"] = sum(rates[n] for n in guards)
    row("guardrails", "applied", "guardrails")
    _details(lines, c, ("guardrails",))
    row("wakeups", "requested", "wakeups")
    row("intervals", "written", "ivl_records")
    row("", "lost (ring full)", "ivl_overflows")
    row("residuals", "accepted", "res_accepted")
    row("", "clamped", "residuals_clamped")
    _details(lines, c, ("residuals clamped",))
    row("", "rejected", "residuals_rejected")
    _details(lines, c, ("residuals rejected",))
    row("", "expired", "res_expired")
    row("", "knobs ignored", "res_ignored")
    _details(lines, c, ("other",))
    return "\n".join(lines)


def _details(lines: list[str], c: dict[str, int], groups: tuple[str, ...]) -> None:
    """One line for each counter of these groups that is not zero, with its sentence."""
    for name in counters.ring_counter_names():
        info = counters.info(name)
        if info.group in groups and c.get(name):
            label = next(iter(info.labels.values()), name)
            lines.append(f"{'':<11}   {label:<16} {_n(c[name]):>14}  {info.text}")


def stats(path: str, wait_s: float) -> dict[str, Any]:
    first = read_sample(path)
    if wait_s <= 0:
        return report(path, first)
    time.sleep(wait_s)
    return report(path, first, read_sample(path))


__all__ = ["RingError", "default_ring", "liveness", "read_sample", "render", "stats"]
