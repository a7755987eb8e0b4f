"""The Prague-like sender's controller and CLIs, without a network (no root needed)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SEND = ROOT / "build" / "aqmllm-prague-send"
RECV = ROOT / "build" / "aqmllm-prague-recv"


@pytest.fixture(scope="module")
def gens() -> None:
    subprocess.run(["make", "-s", "emu-gens"], cwd=ROOT, check=True)


def test_controller_follows_the_prague_rules(gens: None) -> None:
    # alpha's EWMA (1/16), the alpha/2 cut once per round, AI per round with
    # (rtt/25 ms)^2 below 25 ms, no increase for marked bytes or in loss
    # recovery, the halving once per loss epoch and its undo, RTO, pacing:
    # each a check in prague_send.c's self-test, on hand-made ACK sequences.
    res = subprocess.run([str(SEND), "--selftest"], capture_output=True, text=True, timeout=30)
    assert res.returncode == 0, res.stdout
    assert "selftest: 0 checks failed" in res.stdout


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (
            ["--dst", "10.0.0.1", "--port", "5000", "--seconds", "1", "--ecn", "ect2"],
            "--ecn 'ect2'",
        ),
        (["--dst", "10.0.0.1", "--port", "0", "--seconds", "1"], "--port: '0'"),
        (["--dst", "nowhere", "--port", "5000", "--seconds", "1"], "not an IPv4 address"),
        (["--dst", "10.0.0.1", "--port", "5000", "--seconds", "1", "--mss", "9000"], "--mss"),
    ],
)
def test_sender_refuses_bad_arguments_in_one_sentence(
    gens: None, args: list[str], says: str
) -> None:
    res = subprocess.run([str(SEND), *args], capture_output=True, text=True, timeout=10)
    assert res.returncode == 2
    assert says in res.stderr and "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_receiver_refuses_bad_arguments(gens: None) -> None:
    res = subprocess.run(
        [str(RECV), "--bind", "127.0.0.1", "--port", "5000", "--drop", "0.9"],
        capture_output=True,
        text=True,
        timeout=10,
    )
    assert res.returncode == 2 and "--drop: '0.9' is not a number in [0, 0.5]" in res.stderr


def test_sender_and_receiver_over_loopback(gens: None) -> None:
    # No bottleneck, no marks: the receiver counts every packet once as ECT(1),
    # the sender's view of delivery matches it, nothing is lost.
    recv = subprocess.Popen(
        [str(RECV), "--bind", "127.0.0.1", "--port", "47123"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert recv.stdout is not None
    assert json.loads(recv.stdout.readline())["ready"]
    send = subprocess.run(
        [str(SEND), "--dst", "127.0.0.1", "--port", "47123", "--seconds", "1", "--report-ms", "50"],
        capture_output=True,
        text=True,
        timeout=20,
    )
    rout, _ = recv.communicate(timeout=20)
    lines = [json.loads(x) for x in send.stdout.splitlines()]
    s = lines[-1]
    r = json.loads(rout.splitlines()[-1])
    assert s["summary"] and r["summary"]
    assert r["rx_pkts"] == s["delivered_pkts"] > 100
    assert r["arrived"]["ect1"] == r["rx_pkts"] and r["ce_pkts"] == 0 and r["dup_pkts"] == 0
    # Every packet sent was delivered, taken for lost, or is unaccounted at the
    # end.  With no bottleneck, slow start never ends, and socket buffers
    # overflow: real losses, and ACKs lost too (losses that were none).
    lost = s["lost_pkts"] - s["spurious_losses"]
    assert s["sent_pkts"] <= s["delivered_pkts"] + lost + s["inflight_end_pkts"], s
    assert (s["loss_reductions"] + s["rtos"] > 0) == (s["lost_pkts"] > 0), s
    assert s["bad_pkts"] == 0 and s["ce_reductions"] == 0
    trace = [x for x in lines if "cwnd" in x]
    assert len(trace) >= 15  # a line every 50 ms
