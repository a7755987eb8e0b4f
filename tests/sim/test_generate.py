"""The scenario generator: deterministic, in range, loadable, never a held-out collision."""

from __future__ import annotations

import json
import math
import tomllib
from pathlib import Path

import pytest
from aqmllm.sim.gen import limits
from aqmllm.sim.gen.family import FamilyError, family_names, load_family, parse_family
from aqmllm.sim.gen.focus import load_focus, point_of_file, write_focus
from aqmllm.sim.gen.generate import plan, scenario_name, write
from aqmllm.sim.gen.heldout import CollisionError, read_held_out
from aqmllm.sim.generate_cli import main as cli_main
from aqmllm.sim.scenario import SCENARIO_DIR, load_scenario

BASE_FAMILIES = ["steady", "dynamics", "overload"]


def _no_held(tmp_path: Path):
    return read_held_out([tmp_path / "no-suite"])


def test_families_ship_and_parse() -> None:
    names = family_names()
    assert {"steady", "dynamics", "overload", "web-mix", "wide"} <= set(names)
    for name in names:
        fam = load_family(name)
        assert fam.name == name and fam.description


@pytest.mark.parametrize("base", ["steady", "dynamics", "overload", "web-mix", "wide"])
def test_long_families_are_their_base_with_only_the_length_changed(base: str) -> None:
    long, short = load_family(f"{base}-long"), load_family(base)
    assert long.name == f"{base}-long" and long.description != short.description
    assert long.scenario_keys == short.scenario_keys
    assert long.seeds_per_scenario == short.seeds_per_scenario
    assert long.start_jitter_ms == short.start_jitter_ms
    changed = {k for k in short.dists if long.dists[k] != short.dists[k]}
    assert changed == {"duration_s"}
    assert (long.dists["duration_s"].lo, long.dists["duration_s"].hi) == (20.0, 30.0)


def _family_dir(tmp_path: Path, monkeypatch, files: dict[str, str]) -> None:
    for name, text in files.items():
        (tmp_path / f"{name}.toml").write_text(text)
    monkeypatch.setattr("aqmllm.sim.gen.family.FAMILY_DIR", tmp_path)


def test_extends_overrides_keys_and_latents_it_names(tmp_path: Path, monkeypatch) -> None:
    _family_dir(
        tmp_path,
        monkeypatch,
        {
            "base": 'description = "b"\nseeds_per_scenario = 3\n[latents]\n'
            "rate_mbps = {uniform = [5, 10]}\nc_count = {int = [1, 4]}\n",
            "child": 'extends = "base"\nseeds_per_scenario = 5\n[latents]\nc_count = 7\n',
        },
    )
    fam = load_family("child")
    assert fam.name == "child" and fam.description == "b" and fam.seeds_per_scenario == 5
    assert (fam.dists["rate_mbps"].lo, fam.dists["rate_mbps"].hi) == (5.0, 10.0)
    assert fam.dists["c_count"].values == (7,)


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"a": 'extends = "b"\n', "b": 'extends = "a"\n'}, "in a cycle"),
        ({"a": 'extends = "a"\n'}, "in a cycle"),
        ({"a": 'name = "foo"\nextends = "a"\n'}, "a.toml.extends: .* cycle"),
        ({"a": 'extends = "nope"\n'}, "extends: no scenario family 'nope'"),
        ({"a": 'extends = "x.toml"\n'}, "expected the name of a family"),
        ({"a": "extends = 3\n"}, "expected the name of a family"),
        ({"a": 'extends = "b"\n', "b": "[latents]\nspeed = 3\n"}, "b.toml.latents: unknown"),
    ],
)
def test_bad_extends_is_refused_in_one_sentence(
    tmp_path: Path, monkeypatch, files: dict[str, str], message: str
) -> None:
    _family_dir(tmp_path, monkeypatch, files)
    with pytest.raises(FamilyError, match=message):
        load_family("a")


def test_same_arguments_same_files_and_prefix_stable(tmp_path: Path) -> None:
    fam = load_family("wide")
    held = _no_held(tmp_path)
    a = plan(fam, 6, 7, tmp_path / "a", held=held)
    b = plan(fam, 6, 7, tmp_path / "b", held=held)
    assert [g.text for g in a] == [g.text for g in b]
    short = plan(fam, 3, 7, tmp_path / "c", held=held)
    assert [g.text for g in short] == [g.text for g in a[:3]]
    other = plan(fam, 6, 8, tmp_path / "d", held=held)
    assert all(x.point != y.point for x, y in zip(a, other, strict=True))


@pytest.mark.parametrize("family", BASE_FAMILIES)
def test_base_families_load_today_and_respect_ranges(tmp_path: Path, family: str) -> None:
    fam = load_family(family)
    out = tmp_path / family
    paths = write(plan(fam, 40, 3, out, held=_no_held(tmp_path)), out)
    assert len(paths) == 40
    for p in paths:
        sc = load_scenario(p)
        text = p.read_text()
        assert "NOT part of the held-out suites" in text and sc.name.startswith("gen-")
        assert 6.0 <= sc.duration_s <= 12.0
        assert 2.0 * 0.99 <= sc.rate_mbps <= 200.0 * 1.01
        for f in sc.flows:
            assert limits.RTT_MS[0] <= f.rtt_ms <= limits.RTT_MS[1]
        c = sum(f.count for f in sc.flows if f.kind in ("cubic", "newreno"))
        l_flows = sum(f.count for f in sc.flows if f.kind == "dctcp")
        assert 1 <= c <= 16 and 0 <= l_flows <= 16
        for f in sc.flows:
            if f.kind == "udp":
                assert 0 < f.rate_mbps <= 1.5 * sc.rate_mbps * 1.01
        for ch in sc.rate_changes:
            ratio = ch.rate_mbps / sc.rate_mbps
            assert ratio == pytest.approx(1.0, abs=0.01) or 0.2 * 0.99 <= ratio <= 5.0 * 1.01
            assert ch.at_s < sc.duration_s
        assert limits.BUFFER_PKTS[0] <= sc.buffer_pkts <= limits.BUFFER_PKTS[1]
        assert all(s not in (11, 21, 31, 12, 22, 32, 13, 23, 33) for s in sc.seeds)


def test_dynamics_and_overload_have_their_features(tmp_path: Path) -> None:
    held = _no_held(tmp_path)
    dyn = [
        load_scenario(p)
        for p in write(
            plan(load_family("dynamics"), 30, 1, tmp_path / "d", held=held), tmp_path / "d"
        )
    ]
    assert sum(bool(s.rate_changes) for s in dyn) >= 20
    assert any(len(s.rate_changes) > 1 for s in dyn)  # toggling
    over = [
        load_scenario(p)
        for p in write(
            plan(load_family("overload"), 30, 1, tmp_path / "o", held=held), tmp_path / "o"
        )
    ]
    assert all(any(f.kind == "udp" for f in s.flows) for s in over)


@pytest.mark.parametrize("family", ["web-mix", "wide"])
def test_extended_families_write_issue13_keys(tmp_path: Path, family: str) -> None:
    gens = plan(load_family(family), 40, 2, tmp_path, held=_no_held(tmp_path))
    webs = 0
    for g in gens:
        data = tomllib.loads(g.text)
        for f in data["flows"]:
            assert f["ecn"] in ("not-ect", "ect0", "ect1")
            if f["kind"] == "dctcp":
                assert f["ecn"] == "ect1"
            if f["kind"] == "web":
                webs += 1
                assert set(f) == {
                    "kind",
                    "cc",
                    "ecn",
                    "rtt_ms",
                    "arrivals_per_s",
                    "size_dist",
                    "mean_kb",
                    "shape",
                    "max_kb",
                    "count",
                    "start_s",
                    "stop_s",
                }
                assert f["size_dist"] in ("lognormal", "pareto") and f["arrivals_per_s"] > 0
                assert f["max_kb"] >= f["mean_kb"] and f["stop_s"] < data["duration_s"]
    assert webs >= 10


def test_name_collision_with_a_held_out_file_writes_nothing(tmp_path: Path) -> None:
    suite = tmp_path / "eval"
    suite.mkdir()
    (suite / "x.toml").write_text(f'name = "{scenario_name("steady", 5, 2)}"\nseeds = [3]\n')
    out = tmp_path / "out"
    with pytest.raises(CollisionError, match="taken by the held-out"):
        write(plan(load_family("steady"), 4, 5, out, held=read_held_out([suite])), out)
    assert not out.exists()


def test_held_out_seeds_are_never_drawn(tmp_path: Path) -> None:
    fam = load_family("steady")
    free = plan(fam, 5, 9, tmp_path / "a", held=_no_held(tmp_path))
    taken = [s for g in free for s in tomllib.loads(g.text)["seeds"]][:4]
    suite = tmp_path / "l4s-stress"
    suite.mkdir()
    (suite / "s.toml").write_text(f"seeds = {taken}\n")
    again = plan(fam, 5, 9, tmp_path / "b", held=read_held_out([suite]))
    seeds = [s for g in again for s in tomllib.loads(g.text)["seeds"]]
    assert not set(seeds) & set(taken)
    held = read_held_out([suite])
    with pytest.raises(CollisionError, match="seed .* held-out"):
        held.check_scenario("gen-anything", [taken[0]], tmp_path / "f.toml")


def test_refuses_to_write_into_a_held_out_folder(tmp_path: Path) -> None:
    fam = load_family("steady")
    for folder in (
        SCENARIO_DIR / "eval",
        SCENARIO_DIR / "rfc7928" / "sub",
        SCENARIO_DIR / "l4s-stress",
    ):
        with pytest.raises(CollisionError, match="held-out suite"):
            plan(fam, 1, 1, folder)
    assert not (SCENARIO_DIR / "rfc7928" / "sub").exists()


def test_the_real_suites_are_read_and_avoided(tmp_path: Path) -> None:
    held = read_held_out()
    assert "eval-default" in held.names and 11 in held.seeds
    for g in plan(load_family("wide"), 20, 1, tmp_path):
        assert g.name not in held.names
        assert not set(tomllib.loads(g.text)["seeds"]) & set(held.seeds)


def test_never_overwrites_a_file_it_did_not_generate(tmp_path: Path) -> None:
    fam = load_family("steady")
    gens = plan(fam, 2, 1, tmp_path, held=_no_held(tmp_path))
    write(gens, tmp_path)
    write(gens, tmp_path)  # regenerating its own files is fine
    gens[1].path.write_text("# hand-written\n")
    with pytest.raises(CollisionError, match="not generated"):
        write(gens, tmp_path)


def test_focus_samples_near_the_largest_gaps(tmp_path: Path) -> None:
    fam = load_family("steady")
    held = _no_held(tmp_path)
    seeds = write(plan(fam, 3, 1, tmp_path / "prev", held=held), tmp_path / "prev")
    focus = write_focus(
        tmp_path / "focus.json", {str(seeds[0]): 0.8, str(seeds[1]): -0.5, str(seeds[2]): 0.0}
    )
    entries = load_focus(focus, fam)
    gens = plan(fam, 20, 2, tmp_path / "new", entries, focus_share=1.0, radius=0.05, held=held)
    assert {g.parent for g in gens} == {seeds[0].stem}
    parent = point_of_file(seeds[0])
    for g in gens:
        assert abs(math.log(g.point["rate_mbps"] / parent["rate_mbps"])) < 1.5
        assert f"near {seeds[0].stem}" in g.text
    assert point_of_file(write(gens[:1], tmp_path / "new")[0]) == gens[0].point
    mixed = plan(fam, 40, 2, tmp_path / "m", entries, focus_share=0.5, held=held)
    assert 5 < sum(bool(g.parent) for g in mixed) < 35


def test_a_point_rebuilds_its_scenario(tmp_path: Path) -> None:
    fam = load_family("dynamics")
    g = plan(fam, 1, 4, tmp_path, held=_no_held(tmp_path))[0]
    focus = tmp_path / "f.json"
    focus.write_text(json.dumps([{"point": g.point, "gap": 1.0, "name": "p"}]))
    assert load_focus(focus, fam)[0].point == g.point


@pytest.mark.parametrize(
    ("latents", "message"),
    [
        ("speed = 3", "unknown latent"),
        ("rate_mbps = {loguniform = [1, 500]}", "outside the generator's range"),
        ('udp_ecn = "ect1"\nudp_load = 0.5', "needs scenario_keys"),
        ("web_load = 0.3", "web flows need"),
        ("rate_mbps = {uniform = [50, 10]}", "lo <= hi"),
        ("c_kind = {uniform = [1, 2]}", "string latent"),
        ("c_count = {int = [1, 8], weights = [1]}", "weights only"),
        ('rtt_mix = {choice = ["same", "ring"]}', "'ring' is not one of"),
        ("rate_mbps = {normal = [1, 2]}", "exactly one of"),
    ],
)
def test_bad_families_are_refused_by_name(latents: str, message: str) -> None:
    data = tomllib.loads(f'name = "bad"\n[latents]\n{latents}\n')
    with pytest.raises(FamilyError, match=message) as err:
        parse_family(data, "bad.toml")
    assert "bad.toml" in str(err.value)


def test_cli_generates_and_reports_errors(tmp_path: Path, capsys) -> None:
    assert (
        cli_main(
            [
                "generate",
                "--family",
                "steady",
                "--n",
                "3",
                "--seed",
                "1",
                "--out",
                str(tmp_path / "g"),
            ]
        )
        == 0
    )
    assert len(list((tmp_path / "g").glob("*.toml"))) == 3
    assert (
        cli_main(
            [
                "generate",
                "--family",
                "nope",
                "--n",
                "3",
                "--seed",
                "1",
                "--out",
                str(tmp_path / "h"),
            ]
        )
        == 2
    )
    assert "no scenario family 'nope'" in capsys.readouterr().err
    assert (
        cli_main(
            [
                "generate",
                "--family",
                "steady",
                "--n",
                "2",
                "--seed",
                "1",
                "--out",
                str(SCENARIO_DIR / "eval"),
            ]
        )
        == 2
    )
    assert "held-out suite" in capsys.readouterr().err
    with pytest.raises(SystemExit) as refused:  # argparse: one sentence, exit 2
        cli_main(
            ["generate", "--family", "steady", "--n", "0", "--seed", "1", "--out", str(tmp_path)]
        )
    assert refused.value.code == 2
    assert "'0' is not a positive integer" in capsys.readouterr().err


def test_bad_focus_files_are_refused(tmp_path: Path) -> None:
    fam = load_family("steady")
    hand = tmp_path / "hand.toml"
    hand.write_text('name = "x"\n')
    outside = plan(load_family("wide"), 20, 1, tmp_path / "w", held=_no_held(tmp_path))
    far = next(g for g in outside if g.point["udp_load"] > 0)  # steady has no UDP
    cases = [
        ([{"file": str(hand)}], "finite number 'gap'"),
        ([{"file": str(hand), "gap": 1.0}], "not a generated scenario"),
        ([{"point": far.point, "gap": 1.0}], "lies outside family steady"),
        ([{"point": {"rate_mbps": 5}, "gap": 1.0}], "lacks latent"),
        ([], "non-empty list"),
    ]
    for i, (entries, message) in enumerate(cases):
        f = tmp_path / f"f{i}.json"
        f.write_text(json.dumps(entries))
        with pytest.raises(FamilyError, match=message):
            load_focus(f, fam)
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(FamilyError, match="not valid JSON"):
        load_focus(tmp_path / "bad.json", fam)
