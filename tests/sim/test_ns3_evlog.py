"""The event log in ns-3: every drop counted once whatever its place, the class a
packet arrived in, and rows identical to the emulator's for the same events."""

from __future__ import annotations

import importlib.util
import random
import subprocess
from pathlib import Path

import numpy as np
import pytest
from aqmllm.sim.evlog import (
    EV_DROP_DEQ,
    EV_DROP_ENQ,
    EV_DROP_TAIL,
    EV_MARKED,
    EV_SERVED,
    read_evlog,
)
from aqmllm.sim.metrics import class_metrics
from aqmllm.sim.scenario import parse_scenario
from packets import ipv4

ROOT = Path(__file__).resolve().parents[2]
ROUTER = ROOT / "build" / "aqmllm-emu-router"
pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("ns") is None, reason="the PyPI package ns3 is not installed"
)


def _scenario(flows: list[dict], rate: float = 10, buffer: int = 1000, duration: float = 3.0):
    return parse_scenario(
        {
            "duration_s": duration,
            "bottleneck": {"rate_mbps": rate, "buffer_pkts": buffer},
            "flows": flows,
        },
        "test.toml",
    )


@pytest.fixture(scope="module")
def built() -> None:
    subprocess.run(["make", "-s", "core", "evlog"], cwd=ROOT, check=True)


def _run(sc, aqm: str, work: Path) -> tuple[dict, np.ndarray]:
    from aqmllm.sim.ns3.run import RunSpec, run

    m = run(RunSpec(sc, aqm, 1), work)
    return m, read_evlog(m["log"]).rows


@pytest.mark.parametrize("aqm", ["codel", "ns3-codel"])
def test_not_ect_cubic_loses_packets_and_every_drop_counts(
    built: None, tmp_path: Path, aqm: str
) -> None:
    # A Not-ECT Cubic flow: CoDel can only drop (at dequeue); a 40-packet
    # buffer adds tail drops at enqueue in slow start.
    sc = _scenario([{"kind": "cubic", "rtt_ms": 40}], buffer=40)
    m, rows = _run(sc, aqm, tmp_path)
    assert m["overall"]["loss"] > 0
    whole = class_metrics(rows)
    assert whole["drops_dequeue"] > 0 and whole["drops_tail"] + whole["drops_enqueue"] > 0
    # The log agrees with ns-3's own counters, drop by drop, wherever it happened.
    q = m["ns3_queue_disc"]
    ev = rows["event"]
    assert int(np.isin(ev, (EV_DROP_TAIL, EV_DROP_ENQ)).sum()) == q["dropped_before_enqueue"]
    assert int((ev == EV_DROP_DEQ).sum()) == q["dropped_after_dequeue"]
    assert len(rows) == q["received"] - q["in_queue"]
    # and byte for byte: a packet's size as it left the queue, before the link's headers
    left = np.isin(ev, (EV_SERVED, EV_MARKED, EV_DROP_DEQ))
    assert int(rows["bytes"][left].sum()) == q["dequeued_bytes"]
    # Loss is every drop over every arrival; delays come from served packets only.
    st = m["overall"]
    assert st["loss"] == pytest.approx(st["drops"] / st["arrivals"])
    assert st["drops"] == st["drops_tail"] + st["drops_enqueue"] + st["drops_dequeue"]
    assert st["packets"] + st["drops"] == st["arrivals"]
    steady = rows[rows["t_ns"] >= int(m["warmup_s"] * 1e9)]
    served = steady[np.isin(steady["event"], (EV_SERVED, EV_MARKED))]
    assert st["delay_p99_ms"] == pytest.approx(np.percentile(served["sojourn_ns"] / 1e6, 99))
    assert (rows["sojourn_ns"][np.isin(ev, (EV_DROP_TAIL, EV_DROP_ENQ))] == 0).all()
    if aqm == "codel":  # our core tells tail drops from its own
        src = rows["src"]
        assert (src[ev == EV_DROP_TAIL] == 4).all()  # AQM_SRC_LIMIT
        assert (src[ev == EV_DROP_DEQ] == 3).all()  # AQM_SRC_FALLBACK
    assert (rows["flow"] == 0).mean() > 0.99  # one flow, one table entry


def test_marks_at_enqueue_keep_the_arrival_class(built: None, tmp_path: Path) -> None:
    # ns-3's PIE marks ECT(0) packets before they enter its queue; they are
    # CE in the queue but arrived Classic.
    sc = _scenario([{"kind": "newreno", "ecn": True, "rtt_ms": 20, "count": 2}])
    m, rows = _run(sc, "ns3-pie", tmp_path)
    marked = rows[rows["event"] == EV_MARKED]
    assert len(marked) > 5 and m["ns3_queue_disc"]["marked"] == len(marked)
    assert (marked["ecn"] == 2).all() and (marked["cls"] == 0).all()
    assert m["L"]["arrivals"] == 0


def test_ecn_codepoints_per_flow_udp_ect1_is_l4s(built: None, tmp_path: Path) -> None:
    from aqmllm.sim.ns3.run import flow_sources

    sc = _scenario(
        [
            {"kind": "udp", "rate_mbps": 2, "ecn": "ect1"},
            {"kind": "udp", "rate_mbps": 2, "ecn": "ect0"},
            {"kind": "udp", "rate_mbps": 2},
            {"kind": "cubic", "ecn": "ect1"},
            {"kind": "dctcp", "ecn": "ect0"},
        ],
        duration=2.0,
    )
    m, rows = _run(sc, "dualpi2", tmp_path)
    flows = read_evlog(m["log"]).flows
    source = flow_sources(flows, 5)[rows["flow"]]
    data = rows["bytes"] > 100  # not the TCP handshakes and ACK-sized packets
    for i, (ecn, cls) in enumerate([(1, 1), (2, 0), (0, 0), (1, 1), (2, 0)]):
        mine = rows[(source == i) & data & (rows["event"] != EV_MARKED)]
        assert len(mine) > 50, i
        assert (mine["ecn"] == ecn).all() and (mine["cls"] == cls).all(), i
    assert [s["class"] for s in m["sources"]] == ["L", "C", "C", "L", "C"]


def _sequence(n: int, seed: int) -> list[dict]:
    """A FIFO's worth of packets from three flows with every kind of outcome."""
    rng = random.Random(seed)
    flows = [
        ("10.16.0.1", "10.128.0.2", 6, 49153, 5000, 0x02),
        ("10.16.1.1", "10.128.1.2", 6, 49154, 5001, 0x01),
        ("10.16.2.1", "10.128.2.2", 17, 49155, 5002, 0x00),
    ]
    out, t, queue_free = [], 1_000, 0
    for _ in range(n):
        t += rng.randint(1, 40_000)
        src, dst, proto, sp, dp, tos = rng.choice(flows)
        ev = rng.choices(
            [EV_SERVED, EV_MARKED, EV_DROP_TAIL, EV_DROP_ENQ, EV_DROP_DEQ], [6, 2, 1, 1, 1]
        )[0]
        if tos == 0 and ev == EV_MARKED:
            ev = EV_DROP_DEQ
        size = rng.choice([60, 600, 1500])
        # A FIFO: outcomes leave in arrival order, each after the previous one.
        done = (
            t if ev in (EV_DROP_TAIL, EV_DROP_ENQ) else max(t, queue_free) + rng.randint(1, 90_000)
        )
        if ev not in (EV_DROP_TAIL, EV_DROP_ENQ):
            queue_free = done
        out.append(
            {
                "enq": t,
                "now": done,
                "ev": ev,
                "early_mark": ev == EV_MARKED and rng.random() < 0.3,
                "pkt": ipv4(src, dst, proto, sp, dp, tos, size),
            }
        )
    return out


REPLAY_CPP = r"""
namespace evtest {
using namespace ns3;
// Calls QdiscLog's handlers in the order ns-3 fires the traces for each outcome.
void Replay(Ptr<QdiscLog> log, const std::vector<int64_t> &at, const std::vector<int> &op,
            const std::vector<int> &pkt, const std::vector<std::string> &bytes,
            const std::vector<int64_t> &enq)
{
  std::vector<Ptr<QueueDiscItem>> items;
  for (size_t k = 0; k < bytes.size(); k++) {
    Ptr<Packet> p = Create<Packet>((const uint8_t *)bytes[k].data(), bytes[k].size());
    Ipv4Header h;
    p->RemoveHeader(h);
    Ptr<QueueDiscItem> item = Create<Ipv4QueueDiscItem>(p, Address(), 0x0800, h);
    item->SetTimeStamp(NanoSeconds(enq[k]));
    items.push_back(item);
  }
  for (size_t i = 0; i < at.size(); i++) {
    Ptr<QueueDiscItem> item = items[pkt[i]];
    int o = op[i];
    Simulator::Schedule(NanoSeconds(at[i]), [log, item, o]() {
      switch (o) {
      case 0: log->OnEnqueue(item); break;
      case 1: log->OnDequeue(item); break;
      case 2: log->OnMark(item, "Unforced mark"); break;
      case 3: log->OnDropEnq(item, "Overlimit drop"); break;
      case 4: log->OnDropEnq(item, "Unforced drop"); break;
      case 5: log->OnDropDeq(item, "Target exceeded drop"); break;
      }
    });
  }
  Simulator::Run();
  Simulator::Destroy();
}
}
"""


def test_ns3_and_emulator_write_the_same_rows(built: None, tmp_path: Path) -> None:
    if not ROUTER.exists():
        subprocess.run(["make", "-s", "emu-router"], cwd=ROOT, check=True)
    from aqmllm.sim.ns3.env import ns

    n3 = ns()
    import cppyy

    if not hasattr(cppyy.gbl, "evtest"):
        cppyy.cppdef(REPLAY_CPP)
    seq = _sequence(400, seed=7)
    # The emulator: one line per outcome, in the order of their times (drops
    # on arrival come before the dequeues of packets that arrived earlier).
    seq.sort(key=lambda p: p["now"])
    script = tmp_path / "replay.txt"
    script.write_text("".join(f"{p['now']} {p['enq']} {p['ev']} 0 {p['pkt'].hex()}\n" for p in seq))
    emu_log = tmp_path / "emu.evlog"
    subprocess.run([str(ROUTER), "--evlog-replay", str(script), "--log", str(emu_log)], check=True)
    # ns-3: the trace calls each outcome produces, at their times.
    calls = []  # (time, order, op, packet)
    for k, p in enumerate(seq):
        if p["ev"] in (EV_DROP_TAIL, EV_DROP_ENQ):
            calls.append((p["now"], 1, 3 if p["ev"] == EV_DROP_TAIL else 4, k))
            continue
        if p["early_mark"]:
            calls.append((p["enq"], 0, 2, k))
        calls.append((p["enq"], 0, 0, k))
        calls.append((p["now"], 1, 1, k))
        if p["ev"] == EV_MARKED and not p["early_mark"]:
            calls.append((p["now"], 1, 2, k))
        if p["ev"] == EV_DROP_DEQ:
            calls.append((p["now"], 1, 5, k))
    calls.sort(key=lambda c: (c[0], c[1]))
    vec = cppyy.gbl.std.vector
    ns3_log = tmp_path / "ns3.evlog"
    qlog = n3.CreateObject[n3.QdiscLog]()
    assert qlog.Open(str(ns3_log))
    cppyy.gbl.evtest.Replay(
        qlog,
        vec["int64_t"]([c[0] for c in calls]),
        vec["int"]([c[2] for c in calls]),
        vec["int"]([c[3] for c in calls]),
        vec["std::string"]([p["pkt"] for p in seq]),
        vec["int64_t"]([p["enq"] for p in seq]),
    )
    assert qlog.Close()
    a, b = read_evlog(emu_log), read_evlog(ns3_log)
    assert a.complete and b.complete
    assert len(a.rows) == len(seq) and len(a.flows) == 3
    differ = np.flatnonzero(a.rows != b.rows)
    assert not len(differ), (differ[:3], a.rows[differ[:3]], b.rows[differ[:3]])
    assert a.rows.tobytes() == b.rows.tobytes()
    assert a.flows.tobytes() == b.flows.tobytes()
    # and the rows say what happened
    assert list(a.rows["event"]) == [p["ev"] for p in seq]
    assert list(a.rows["sojourn_ns"][a.rows["event"] == EV_SERVED]) == [
        p["now"] - p["enq"] for p in seq if p["ev"] == EV_SERVED
    ]


def test_a_run_draws_the_same_whatever_ran_before_it_in_the_process(
    built: None, tmp_path: Path
) -> None:
    # Run workers do many runs in one process; ns-3's PIE draws from ns-3's
    # random streams, whose numbering must start afresh with each run.
    sc = _scenario([{"kind": "newreno", "ecn": True, "count": 2}], duration=1.5)
    first, rows1 = _run(sc, "ns3-pie", tmp_path / "a")
    _run(sc, "ns3-red", tmp_path / "b")  # anything random in between
    again, rows2 = _run(sc, "ns3-pie", tmp_path / "c")
    assert rows1.tobytes() == rows2.tobytes()
    assert first["ns3_queue_disc"] == again["ns3_queue_disc"]
