"""The fallback AQMs' one table (kmod/core/aqm_alg.c): what every caller
gets its names, ids and algorithms from."""

from __future__ import annotations

import re
from pathlib import Path

from algo_harness import MS, make_ctx, new_state
from aqmllm.bridge import layout
from aqmllm.bridge._aqmcore import ffi, lib

ROOT = Path(__file__).resolve().parents[2]
NULL = ffi.NULL


def _algs():
    return [lib.aqm_alg_by_id(i) for i in range(lib.AQMLLM_FB_COUNT)]


def test_one_descriptor_per_id_with_a_unique_name() -> None:
    algs = _algs()
    assert all(a != NULL for a in algs)
    assert [a.id for a in algs] == list(range(lib.AQMLLM_FB_COUNT))
    names = [ffi.string(a.name).decode() for a in algs]
    assert len(set(names)) == len(names)
    assert lib.aqm_alg_by_id(lib.AQMLLM_FB_COUNT) == NULL


def test_lookup_by_name_is_exact() -> None:
    for a in _algs():
        assert lib.aqm_alg_by_name(a.name) == a
    for bad in (b"", b"pi", b"dualpi2x", b"DUALPI2", b"codel "):
        assert lib.aqm_alg_by_name(bad) == NULL, bad
    assert lib.aqm_alg_by_name(NULL) == NULL


def test_python_names_come_from_the_table() -> None:
    assert layout.FALLBACKS == {ffi.string(a.name).decode(): a.id for a in _algs()}
    assert layout.FALLBACKS["dualpi2"] == lib.AQMLLM_FB_DUALPI2


def test_every_descriptor_is_complete() -> None:
    for a in _algs():
        name = ffi.string(a.name).decode()
        for hook in (a.defaults, a.validate, a.init, a.prob, a.overloaded):
            assert hook != NULL, name
        # It decides somewhere, and a periodic update comes with its period.
        assert a.enqueue != NULL or a.dequeue != NULL, name
        assert (a.update == NULL) == (a.tupdate_ns == NULL), name


def test_defaults_write_only_their_own_parameters() -> None:
    for a in _algs():
        par = ffi.new("struct aqm_params *")
        a.defaults(par)
        name = ffi.string(a.name).decode()
        for other in layout.FALLBACKS:
            raw = bytes(ffi.buffer(ffi.addressof(getattr(par, other))))
            assert (raw != bytes(len(raw))) == (other == name), (name, other)


def test_a_long_idle_runs_at_most_the_catch_up_limit() -> None:
    t = 16 * MS
    idle, stepped = new_state("dualpi2"), new_state("dualpi2")
    idle.tick(make_ctx(1000 * t, qdelay=40 * MS))  # a thousand intervals at once
    for _ in range(lib.AQM_TICK_MAX_CATCHUP):
        stepped.tick(make_ctx(stepped.next_update_ns, qdelay=40 * MS))
    assert idle.p_prime == stepped.p_prime
    # ... and the schedule restarts from now, not from the missed boundaries.
    assert idle.next_update_ns == 1000 * t + t


def test_no_code_chooses_an_algorithm_by_its_id() -> None:
    """Only aqm_alg.c maps ids to algorithms: no switch or comparison elsewhere."""
    pattern = re.compile(r"case\s+AQMLLM_FB_|fb_id\s*[!=]=|==\s*AQMLLM_FB_(?!COUNT)")
    found = []
    for path in sorted((ROOT / "kmod").rglob("*.[ch]")) + sorted((ROOT / "sim").rglob("*.[ch]")):
        if path.name == "aqm_alg.c":
            continue
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if pattern.search(line) or re.search(r"switch\s*\([^)]*fb", line):
                found.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    for path in [*(ROOT / "bench").glob("*.c"), *(ROOT / "bridge").rglob("*.c")]:
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if pattern.search(line):
                found.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert not found, "\n".join(found)


def test_no_python_module_restates_the_names() -> None:
    """Name lists and name -> id maps of the fallbacks come from bridge.layout."""
    name = r"""["'](dualpi2|pie|codel)["']"""
    pattern = re.compile(name + r"\s*[:,]\s*(\d|" + name + ")")
    found = [
        f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
        for folder in ("aqmllm", "bridge", "daemon", "models", "sim", "bench")
        for path in sorted((ROOT / folder).rglob("*.py"))
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert not found, "\n".join(found)
