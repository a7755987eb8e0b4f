"""aqmllmd configuration: defaults, overrides, and errors that name the problem."""

from __future__ import annotations

from pathlib import Path

import pytest
from aqmllm.daemon.config import SCHEMA, ConfigError, load_config, sample_config


def test_defaults_and_overrides() -> None:
    cfg = load_config(None, ["inference.batch_size=64", "daemon.log=syslog"])
    assert cfg["inference.batch_size"] == 64
    assert cfg["daemon.log"] == "syslog"
    assert cfg["ring.path"] == "/dev/shm/aqmllm"


def test_sample_config_round_trips(tmp_path: Path) -> None:
    f = tmp_path / "a.toml"
    f.write_text(sample_config())
    cfg = load_config(f)
    for section, keys in SCHEMA.items():
        for key, spec in keys.items():
            assert cfg[f"{section}.{key}"] == spec.default, f"{section}.{key}"
    # The shipped sample is the generated one.
    shipped = Path(__file__).resolve().parents[2] / "etc" / "aqmllmd.toml.sample"
    assert shipped.read_text().strip() == sample_config().strip()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[bogus]\nx = 1\n", r"unknown section \[bogus\]"),
        ("[inference]\nbatchsize = 3\n", "unknown key inference.batchsize"),
        ('[inference]\nbatch_size = "big"\n', "inference.batch_size: expected int"),
        ("[inference]\nbatch_size = 0\n", "below the minimum"),
        ("[inference]\nbatch_size = true\n", "expected int"),
        ('[daemon]\nlog = "file"\n', "not one of stderr, syslog"),
        ("[inference\n", "not valid TOML"),
        ('[inference]\npolicy = "model"\n', "needs inference.model"),
        ('[inference]\nendpoint = "http://x"\n', "must be tcp:// or ipc://"),
        ("ring = 3\n", r"\[ring\] must be a table"),
    ],
)
def test_bad_files_are_refused_with_a_clear_error(tmp_path: Path, text: str, message: str) -> None:
    f = tmp_path / "bad.toml"
    f.write_text(text)
    with pytest.raises(ConfigError, match=message) as err:
        load_config(f)
    assert str(f) in str(err.value)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("batch_size=3", "expected section.key=value"),
        ("inference.nope=3", "unknown key inference.nope"),
        ("inference.batch_size=99999999", "above the maximum"),
    ],
)
def test_bad_overrides(override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(None, [override])


def test_a_string_key_takes_its_override_as_written() -> None:
    # Z85 CURVE keys hold '#', so "6#..." read as TOML is the number 6 (a CI run drew one)
    key = "6#" + "a" * 38
    cfg = load_config(None, [f"inference.client_secret_key={key}", "ring.path=123"])
    assert cfg["inference.client_secret_key"] == key and cfg["ring.path"] == "123"
    assert load_config(None, ['ring.path="/q#x"'])["ring.path"] == "/q#x"  # quoted TOML
    assert load_config(None, ["inference.batch_size=64"])["inference.batch_size"] == 64
    with pytest.raises(ConfigError, match="expected int"):
        load_config(None, ["inference.batch_size=6#4"])


def test_missing_file() -> None:
    with pytest.raises(ConfigError, match="no such configuration file"):
        load_config("/nonexistent/aqmllmd.toml")
