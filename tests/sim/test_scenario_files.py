"""Scenario files: the shipped ones load; bad ones are refused by name."""

from __future__ import annotations

from pathlib import Path

import pytest
from aqmllm.sim.scenario import SCENARIO_DIR, ScenarioError, load_scenario, load_scenarios


def test_shipped_scenarios_load_and_eval_is_separate() -> None:
    train = load_scenarios([str(SCENARIO_DIR / "train")])
    evals = load_scenarios([str(SCENARIO_DIR / "eval")])
    assert len(train) >= 4 and len(evals) >= 3
    assert not {s.name for s in train} & {s.name for s in evals}
    assert any(s.rate_changes for s in train) and any(
        f.kind == "udp" for s in train for f in s.flows
    )


BASE = '[bottleneck]\nrate_mbps = 10\n[[flows]]\nkind = "cubic"\n'
WEB = '[bottleneck]\nrate_mbps = 10\n[[flows]]\nkind = "web"\narrivals_per_s = 10\n'


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("duration_s = 5\n", "missing table \\[bottleneck\\]"),
        ('duration_s = "long"\n' + BASE, "duration_s: expected int"),
        ("duration_s = 5\nspeed = 3\n" + BASE, "unknown key\\(s\\) speed"),
        ("duration_s = 5\n" + BASE.replace("cubic", "bbr"), "kind: 'bbr' is not one of"),
        ("duration_s = 5\n" + BASE + "rtt_ms = -1\n", "rtt_ms: -1 is below"),
        ("duration_s = 5\n" + BASE.replace("cubic", "udp"), "needs a positive rate"),
        ("duration_s = 5\n" + BASE + "start_s = 3\nstop_s = 2\n", "is not after start_s"),
        ("duration_s = 5\n[bottleneck]\nrate_mbps = 10\n", "at least one \\[\\[flows\\]\\]"),
        ("duration_s = 5\nseeds = []\n" + BASE, "non-empty list"),
        ("duration_s = 5\nstart_jitter_ms = -1\n" + BASE, "start_jitter_ms: -1 is below"),
        ("duration_s = 5\nstart_jitter_ms = 3000\n" + BASE, "start_jitter_ms: 3000 is above"),
        (
            "duration_s = 5\n" + BASE + "[[rate_changes]]\nat_s = 9\nrate_mbps = 5\n",
            "at_s: 9 is above",
        ),
        ("duration_s = 5\n[[flows\n", "not valid TOML"),
        ("duration_s = 5\n" + BASE + 'ecn = "ect2"\n', "ecn: 'ect2' is not one of"),
        ("duration_s = 5\n" + BASE.replace("cubic", "dctcp") + "ecn = false\n", "DCTCP needs ECN"),
        ("duration_s = 5\n" + BASE + "mean_kb = 5\n", "unknown key\\(s\\) mean_kb"),
        ("duration_s = 5\n" + BASE + "rate_mbps = 5\n", "unknown key\\(s\\) rate_mbps"),
        ("duration_s = 5\n" + WEB, "missing key 'mean_kb'"),
        (
            "duration_s = 5\n" + WEB + "mean_kb = 5\nshape = 1.0\nsize_dist = 'pareto'\n",
            "no finite mean",
        ),
        ("duration_s = 5\n" + WEB + "mean_kb = 5\nsize_dist = 'zipf'\n", "'zipf' is not one of"),
        ("duration_s = 5\n" + WEB + "mean_kb = 5\ncc = 'bbr'\n", "cc: 'bbr' is not one of"),
        (
            "duration_s = 5\n" + WEB.replace("per_s = 10", "per_s = 0") + "mean_kb = 5\n",
            "is not above 0",
        ),
        (
            "duration_s = 3000\n" + WEB.replace("per_s = 10", "per_s = 20") + "mean_kb = 5\n",
            "per source",
        ),
        (
            "duration_s = 5\n" + BASE.replace("cubic", "udp") + "rate_mbps = 1\non_ms = 4\n",
            "needs both on_ms and off_ms",
        ),
        (
            "duration_s = 5\nstart_jitter_ms = 300\n" + BASE + "start_s = 1\nstop_s = 1.2\n",
            "not longer than start_jitter_ms",
        ),
    ],
)
def test_bad_scenarios_name_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    f = tmp_path / "bad.toml"
    f.write_text(text)
    with pytest.raises(ScenarioError, match=message) as err:
        load_scenario(f)
    assert str(f) in str(err.value)


def test_missing_file_and_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="no such scenario file"):
        load_scenario(tmp_path / "nope.toml")
    with pytest.raises(ScenarioError, match="no \\*.toml scenario files"):
        load_scenarios([str(tmp_path)])


def test_seeds_move_flow_starts_only_within_the_jitter(tmp_path: Path) -> None:
    from aqmllm.sim.ns3.run import flow_start_offsets

    f = tmp_path / "j.toml"
    f.write_text("duration_s = 5\nstart_jitter_ms = 200\n" + BASE)
    assert load_scenario(f).start_jitter_s == pytest.approx(0.2)
    a, b = flow_start_offsets(4, 0.2, seed=11), flow_start_offsets(4, 0.2, seed=21)
    assert a == flow_start_offsets(4, 0.2, seed=11)  # every AQM sees the same starts
    assert a != b
    assert all(0.0 <= x < 0.2 for x in a + b)
    assert flow_start_offsets(3, 0.0, seed=11) == [0.0, 0.0, 0.0]


def test_eval_scenarios_vary_between_seeds() -> None:
    for s in load_scenarios([str(SCENARIO_DIR / "eval")]):
        assert len(s.seeds) >= 3 and s.start_jitter_s > 0, s.name


def test_ecn_codepoints_and_their_old_spelling(tmp_path: Path) -> None:
    f = tmp_path / "e.toml"
    flows = [
        ("cubic", "", "not-ect", "C"),
        ("cubic", "ecn = true", "ect0", "C"),
        ("cubic", 'ecn = "ect1"', "ect1", "L"),
        ("dctcp", "", "ect1", "L"),
        ("dctcp", "ecn = true", "ect1", "L"),
        ("dctcp", 'ecn = "ect0"', "ect0", "C"),
        ("udp", "ecn = true\nrate_mbps = 1", "ect0", "C"),
        ("udp", 'ecn = "ect1"\nrate_mbps = 1', "ect1", "L"),
    ]
    body = "".join(f'[[flows]]\nkind = "{k}"\n{extra}\n' for k, extra, _, _ in flows)
    f.write_text("duration_s = 5\n[bottleneck]\nrate_mbps = 10\n" + body)
    got = [(fl.ecn, fl.cls) for fl in load_scenario(f).flows]
    assert got == [(ecn, cls) for _, _, ecn, cls in flows]


def test_the_held_out_suites_exist_and_each_rfc7928_one_names_its_section() -> None:
    from aqmllm.sim.scenario import is_held_out

    rfc = load_scenarios([str(SCENARIO_DIR / "rfc7928")])
    stress = load_scenarios([str(SCENARIO_DIR / "l4s-stress")])
    assert len(rfc) >= 12 and len(stress) >= 6
    for s in rfc:
        assert s.name.startswith("rfc7928-"), s.path
        text = Path(s.path).read_text()
        assert "RFC 7928 §" in text, s.path  # the section it stands for
        assert is_held_out(s.path) and len(s.seeds) >= 2
    assert all(is_held_out(s.path) for s in stress)
    assert not any(is_held_out(s.path) for s in load_scenarios([str(SCENARIO_DIR / "train")]))
    names = [s.name for s in rfc + stress]
    assert len(set(names)) == len(names)
