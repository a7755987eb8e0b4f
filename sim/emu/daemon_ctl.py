"""aqmllmd around the emulated router: start, watch, and fault injection.

The harness never maps the ring through :class:`aqmllm.bridge.ring.Ring`
while a daemon owns it (closing a Ring detaches the daemon); it reads the
header read-only.  The rogue writer, used while no daemon runs, maps the
ring like a daemon and writes garbage into the verdict ring and indices.
"""

from __future__ import annotations

import atexit
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from aqmllm.bridge import layout
from aqmllm.bridge._aqmcore import lib
from aqmllm.bridge.ring import CELLS, Ring

SHIPPED_STUDENT = Path(__file__).resolve().parents[2] / "models" / "shipped" / "student"
# the interval tier's shipped policy (issue 16): what `--aqm interval` runs by default
SHIPPED_INTERVAL = (
    Path(__file__).resolve().parents[2] / "models" / "shipped" / "interval" / "student"
)
_daemons: set[Daemon] = set()


def aqmllmd_command() -> list[str]:
    """The installed console script next to this interpreter, else the module."""
    script = Path(sys.executable).parent / "aqmllmd"
    return [str(script)] if script.exists() else [sys.executable, "-m", "aqmllm.daemon.main"]


def read_header(ring: str) -> dict[str, Any]:
    """The ring header, read-only (the daemon line and the counter mirror)."""
    hdr = np.memmap(ring, dtype=layout.HEADER_DTYPE, mode="r", shape=())
    out = {name: int(hdr[name]) for name in (*CELLS, "daemon_pid", "daemon_state", "rec_entries")}
    counters = hdr["counters"]
    out["counters"] = {n: int(counters[i]) for n, i in layout.COUNTER_NAMES.items()}
    del hdr
    return out


def counters_by_name(values: list[int]) -> dict[str, int]:
    """The router's private ring counters (a list by AQMLLM_CNT_* index), named."""
    return {n: int(values[i]) for n, i in layout.COUNTER_NAMES.items() if i < len(values)}


class Daemon:
    """One aqmllmd process on a ring (policy 'model' with the shipped student by default)."""

    def __init__(
        self,
        ring: str,
        policy: str | None = None,
        model: str | None = None,
        log: Path | None = None,
        extra: list[str] | None = None,
    ) -> None:
        if (
            model is None
            and policy in (None, "model")
            and (SHIPPED_STUDENT / "manifest.json").exists()
        ):
            model = str(SHIPPED_STUDENT)
        if policy is None:
            policy = "model" if model else "fallback-echo"
        cmd = [
            *aqmllmd_command(),
            "--set",
            f"ring.path={ring}",
            "--set",
            "telemetry.zmq_pub=",
            "--set",
            "telemetry.prometheus_port=0",
            "--set",
            f"inference.policy={policy}",
        ]
        if policy == "model":
            cmd += ["--set", f"inference.model={model}"]
        cmd += extra or []
        self.ring = ring
        self.policy = policy
        self._log = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=self._log)
        self.pid = self.proc.pid
        _daemons.add(self)

    def wait_attached(self, timeout: float = 30.0) -> None:
        """Until the daemon's pid and ATTACHED state are in the ring header."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"aqmllmd exited with {self.proc.returncode} before attaching")
            h = read_header(self.ring)
            if h["daemon_pid"] == self.pid and h["daemon_state"] == lib.AQMLLM_DS_ATTACHED:
                return
            time.sleep(0.02)
        raise RuntimeError(f"aqmllmd did not attach to {self.ring} within {timeout} s")

    def rss_kb(self) -> int:
        return rss_kb(self.pid)

    def kill9(self) -> int:
        """SIGKILL; returns the CLOCK_MONOTONIC time (ns) it was sent."""
        t = time.monotonic_ns()
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        return t

    def stop(self) -> int:
        t = time.monotonic_ns()
        self.proc.send_signal(signal.SIGSTOP)
        return t

    def cont(self) -> int:
        t = time.monotonic_ns()
        self.proc.send_signal(signal.SIGCONT)
        return t

    def terminate(self) -> int | None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self._log is not subprocess.DEVNULL:
            self._log.close()  # type: ignore[union-attr]
        _daemons.discard(self)
        return self.proc.returncode


def rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return -1


def garbage_verdicts(ring_path: str, seconds: float, seed: int = 1) -> dict[str, int]:
    """Act as a broken daemon: attach, heartbeat, and write random verdicts.

    Slots get random bytes (kinds, actions, flags, sequence numbers, policy
    fields), and now and then vd_prod jumps by an impossible amount or
    rec_cons is set past rec_prod.  Returns what was written.
    """
    rng = np.random.default_rng(seed)
    ring = Ring.open_shm(ring_path)
    slots = bad_index = 0
    try:
        ring.attach()
        vd_entries = ring.geometry.vd_entries
        vprod = int(ring.hdr["vd_prod"])
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            ring.heartbeat()
            n = int(rng.integers(1, 64))
            raw = rng.integers(0, 256, size=n * layout.VERDICT_DTYPE.itemsize, dtype=np.uint8)
            garbage = raw.view(layout.VERDICT_DTYPE)
            # Half of them look plausible: a valid kind, no flags, an action
            # near the valid range and a seq around the producer's (past,
            # pending or in the future).
            half = rng.random(n) < 0.5
            m = int(half.sum())
            prod = int(ring.hdr["rec_prod"])
            ent = ring.geometry.rec_entries
            seqs = prod + rng.integers(-2 * ent, ent, size=m)
            garbage["seq"][half] = np.clip(seqs, 0, None).astype(np.uint64)
            garbage["kind"][half] = rng.integers(0, 4, size=m)
            garbage["action"][half] = rng.integers(0, 5, size=m)
            garbage["flags"][half] = 0
            idx = (vprod + np.arange(n)) % vd_entries
            ring.verdicts[idx] = garbage
            vprod += n
            slots += n
            roll = rng.random()
            if roll < 0.05:
                ring.hdr["vd_prod"] = vprod + int(rng.integers(vd_entries + 1, 1 << 40))
                bad_index += 1
                vprod = int(ring.hdr["vd_cons"])  # start again where the producer is
            elif roll < 0.08:
                ring.hdr["rec_cons"] = prod + int(rng.integers(1, 1 << 30))
                bad_index += 1
            else:
                ring.hdr["vd_prod"] = vprod
            if rng.random() < 0.5:
                ring.hdr["rec_cons"] = int(ring.hdr["rec_prod"])  # keep records flowing
            time.sleep(0.001)
    finally:
        ring.close()
    return {"slots": slots, "bad_index_writes": bad_index}


def wait_ring(path: str, timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while not os.path.exists(path):
        if time.monotonic() > end:
            raise RuntimeError(f"{path} never appeared")
        time.sleep(0.01)


@atexit.register
def _stop_all() -> None:
    for d in list(_daemons):
        d.terminate()
