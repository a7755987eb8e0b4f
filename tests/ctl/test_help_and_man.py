"""--help, the man pages and the README say what the code does."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from aqmllm.daemon.config import SCHEMA

from aqmllm.cli import SUBCOMMANDS

ROOT = Path(__file__).resolve().parents[2]
MAN = ROOT / "kmod" / "man"
PRODUCER = ROOT / "build" / "aqmllm-producer"


def _run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(cmd), capture_output=True, text=True, timeout=120)


def _py(module: str, *args: str) -> subprocess.CompletedProcess[str]:
    return _run(sys.executable, "-m", module, *args)


def help_options(text: str) -> list[set[str]]:
    """Each option of an argparse --help (aliases together), -h/--help aside."""
    out = []
    section = text.split("options:", 1)[1] if "options:" in text else ""
    for line in section.splitlines():
        m = re.match(r"^\s{2}(-[^ ].*?)(?:\s{2,}|$)", line)
        if m:
            names = {w.rstrip(",") for w in m.group(1).split() if w.startswith("-")}
            if names - {"-h", "--help"}:
                out.append(names)
    return out


def synopsis(page: str) -> str:
    text = (MAN / page).read_text()
    return text.split(".Sh SYNOPSIS", 1)[1].split(".Sh ", 1)[0]


def synopsis_flags(page: str) -> set[str]:
    return {"-" + f for f in re.findall(r"\bFl (\S+)", synopsis(page))}


def _agree(groups: list[set[str]], flags: set[str], page: str) -> None:
    for g in groups:
        assert g & flags, f"{sorted(g)} is in --help but not in {page}'s SYNOPSIS"
    known = set().union(*groups)
    assert flags <= known, f"{sorted(flags - known)} in {page}'s SYNOPSIS, not in --help"


def test_aqmllmd_help_and_synopsis_agree() -> None:
    p = _py("aqmllm.daemon.main", "--help")
    assert p.returncode == 0
    _agree(help_options(p.stdout), synopsis_flags("aqmllmd.8"), "aqmllmd.8")
    assert p.stdout.rstrip().endswith(".")  # sentences end; none stops mid-way


def test_aqmllmctl_help_and_synopsis_agree() -> None:
    groups: list[set[str]] = []
    top = _py("aqmllm.bridge.ctl", "--help")
    assert top.returncode == 0 and top.stdout.rstrip().endswith(".")
    groups += help_options(top.stdout)
    for sub in ("stats", "sysctl"):
        p = _py("aqmllm.bridge.ctl", sub, "--help")
        assert p.returncode == 0
        groups += help_options(p.stdout)
    pipe = _py("aqmllm.bridge.ctl", "pipe", "1", "config", "--help")
    assert pipe.returncode == 0 and pipe.stdout.startswith("usage: aqmllmctl pipe N config")
    groups += [{f} for f in re.findall(r"\[(--[\w-]+)\]", pipe.stdout.splitlines()[0])]
    _agree(groups, synopsis_flags("aqmllmctl.8"), "aqmllmctl.8")
    # The commands and the pipe's keywords too.
    syn = synopsis("aqmllmctl.8")
    commands = set(re.findall(r"^\.Cm (pipe|sysctl|stats)\b", syn, re.MULTILINE))
    assert commands == {"pipe", "sysctl", "stats"}
    words = set(re.findall(r"\b(bw|delay|queue|aqm|fallback) ", pipe.stdout.splitlines()[0]))
    assert words == set(re.findall(r"Cm (bw|delay|queue|aqm|fallback)\b", syn))


def test_the_producer_has_help_and_it_lists_every_option() -> None:
    subprocess.run(["make", "-s", "producer"], cwd=ROOT, check=True)
    p = _run(str(PRODUCER), "--help")
    assert p.returncode == 0 and p.stdout.startswith("usage: aqmllm-producer")
    source = (ROOT / "bridge" / "producer" / "aqmllm_producer.c").read_text()
    table = set(re.findall(r'\{ "([\w-]+)", (?:required|no)_argument', source))
    shown = set(re.findall(r"--([\w-]+)", p.stdout))
    assert table == shown, table ^ shown


@pytest.mark.parametrize(
    "cmd",
    [
        ("aqmllm.daemon.main",),
        ("aqmllm.bridge.ctl",),
        ("aqmllm.cli",),
        *[("aqmllm.cli", name) for name in SUBCOMMANDS],
    ],
    ids=lambda c: " ".join(c),
)
def test_version_everywhere(cmd: tuple[str, ...]) -> None:
    p = _py(*cmd, "--version")
    assert p.returncode == 0 and re.match(r"aqmllm\S* (\w+ )?\d+\.\d+", p.stdout), (
        p.stdout + p.stderr
    )


def test_producer_version() -> None:
    subprocess.run(["make", "-s", "producer"], cwd=ROOT, check=True)
    p = _run(str(PRODUCER), "--version")
    assert p.returncode == 0 and re.match(
        r"aqmllm-producer \d+\.\d+\.\d+ \(ring ABI \d+\)", p.stdout
    )


def _readme() -> str:
    return (ROOT / "README.md").read_text()


def test_every_config_key_the_docs_name_exists() -> None:
    keys = {f"{s}.{k}" for s, table in SCHEMA.items() for k in table}
    texts = {"README.md": _readme()}
    for page in ("aqmllmd.8", "aqmllmctl.8"):
        texts[page] = (MAN / page).read_text()
    for name, text in texts.items():
        sections = "|".join(SCHEMA)
        named = set(re.findall(rf"\b((?:{sections})\.[a-z_]+)\b", text))
        named = {n for n in named if not n.endswith(("_", ".toml", ".py", ".md"))}
        assert named <= keys, f"{name} names {sorted(named - keys)}, not configuration keys"


def test_the_readme_names_real_commands_options_and_targets() -> None:
    text = _readme()
    for sub in set(re.findall(r"`aqmllm ([a-z]+)\b", text)) | set(
        re.findall(r"^\s+aqmllm ([a-z]+) ", text, re.MULTILINE)
    ):
        assert sub in SUBCOMMANDS, f"README: aqmllm {sub}"
    daemon_help = _py("aqmllm.daemon.main", "--help").stdout
    for flag in set(re.findall(r"aqmllmd [^`\n]*?(--[a-z-]+)", text)):
        assert flag in daemon_help, f"README: aqmllmd {flag}"
    # The GNU makefiles, and kmod/'s BSD makefile (the README's FreeBSD section).
    makefiles = "".join(
        p.read_text()
        for p in (ROOT / "Makefile", ROOT / "kmod" / "Makefile", *ROOT.glob("mk/*.mk"))
    )
    targets = {
        t
        for rule in re.findall(r"^([\w][\w -]*):(?!=)", makefiles, re.MULTILINE)
        for t in rule.split()
    }
    for target in set(re.findall(r"`make ([\w-]+)", text)):
        assert target in targets, f"README: make {target}"
    for folder in re.findall(r"`(sim/scenarios/[\w/]*)`", text):
        path = ROOT / folder
        assert path.is_dir() and any(path.glob("*.toml")), f"README: {folder} holds no scenarios"
