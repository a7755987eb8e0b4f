"""daemon.pidfile: the pid of an aqmllmd run without daemon(8).

Under rc.d, daemon(8) writes both pid files (its own with -P, the child's
with -p); a daemon.pidfile pointing at one of them would overwrite it, so a
pid file that names another live process is refused.  The file is checked
before the daemon attaches to the ring (a failure must not leave the ring
claimed by a dead pid), written atomically, and removed at exit only while
it still names this process.
"""

from __future__ import annotations

import os
from pathlib import Path

from aqmllm.bridge.ring import pid_alive


class PidfileError(RuntimeError):
    """The pid file cannot be written, or belongs to another live process."""


def problem(path: str) -> str | None:
    """Why ``path`` cannot be this daemon's pid file, or None."""
    if not path:
        return None
    p = Path(path)
    parent = p.parent
    if not parent.is_dir():
        return f"daemon.pidfile {path}: directory {parent} does not exist"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"daemon.pidfile {path}: directory {parent} is not writable"
    if p.is_dir():
        return f"daemon.pidfile {path}: is a directory"
    try:
        owner = int(p.read_text().split()[0]) if p.exists() else 0
    except (OSError, ValueError, IndexError):
        owner = 0  # unreadable or not a pid: ours to overwrite
    if owner and owner != os.getpid() and pid_alive(owner):
        return (
            f"daemon.pidfile {path}: names running process {owner}"
            f"{' (our supervisor, daemon(8))' if owner == os.getppid() else ''};"
            " under rc.d leave daemon.pidfile empty, daemon(8) writes the pid files"
        )
    return None


def write(path: str) -> None:
    why = problem(path)
    if why:
        raise PidfileError(why)
    if not path:
        return
    tmp = Path(f"{path}.{os.getpid()}.tmp")
    try:
        tmp.write_text(f"{os.getpid()}\n")
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise PidfileError(f"daemon.pidfile {path}: cannot write: {exc.strerror}") from None


def remove(path: str) -> None:
    if not path:
        return
    try:
        if Path(path).read_text().split()[0] == str(os.getpid()):
            Path(path).unlink()
    except (OSError, IndexError):
        pass
