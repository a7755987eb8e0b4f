"""Loading ns-3 (PyPI `ns3`, through cppyy) with the C core compiled in.

`ns()` returns the ns-3 namespace after JIT-compiling sim/ns3/aqmllm_ns3.h
against the core's headers and loading build/libaqmcore.so and the event-log
writer build/libaqmevlog.so; it is done once per process (about 10 s on two
cores).
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CORE_LIB = ROOT / "build" / "libaqmcore.so"
EVLOG_LIB = ROOT / "build" / "libaqmevlog.so"


class Ns3Error(RuntimeError):
    """ns-3 or the core library cannot be loaded."""


@cache
def ns():
    for lib in (CORE_LIB, EVLOG_LIB):
        if not lib.exists():
            raise Ns3Error(f"{lib} is missing: run `make core evlog` first")
    try:
        from ns import ns as ns3
    except ImportError as exc:
        raise Ns3Error(f"the PyPI package ns3 is not installed: {exc}") from exc
    import cppyy

    for inc in ("kmod/include", "kmod/core", "kmod/linux", "sim/evlog", "sim/ns3"):
        cppyy.add_include_path(str(ROOT / inc))
    cppyy.load_library(str(CORE_LIB))
    cppyy.load_library(str(EVLOG_LIB))
    cppyy.include(str(ROOT / "sim" / "ns3" / "aqmllm_ns3.h"))
    # Register the TypeIds explicitly: static initialisers may not run under cling.
    for cls in ("AqmLlmQueueDisc", "QdiscLog", "LlmBulkApp", "LlmWebApp", "LlmWebSink"):
        getattr(cppyy.gbl.ns3, cls).GetTypeId()
    os.environ.setdefault("NS_LOG", "")
    return ns3
