"""The rc.d script and the FreeBSD acceptance script: shell lint, and what
the rc script does in which order (against a stub rc.subr)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RC = ROOT / "rc.d/aqmllmd.in"
SCRIPTS = sorted(p for p in (RC, ROOT / "kmod/check/freebsd-acceptance.sh") if p.exists())


@pytest.mark.parametrize("script", SCRIPTS, ids=[s.name for s in SCRIPTS])
def test_shell_syntax(script: Path) -> None:
    res = subprocess.run(["sh", "-n", str(script)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck is not installed")
@pytest.mark.parametrize("script", SCRIPTS, ids=[s.name for s in SCRIPTS])
def test_shellcheck_clean(script: Path) -> None:
    res = subprocess.run(["shellcheck", "-s", "sh", str(script)], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr


# ---- the rc script's behaviour, against a stub rc.subr ----

STUB_RC_SUBR = r"""
load_rc_config() { :; }
load_kld() { echo "load_kld $*" >> "$CALLS_LOG"; return "${LOAD_KLD_RC:-0}"; }
run_rc_command() {
    case "$1" in
    start) eval "$start_precmd" || exit 3; echo "START $command $command_args" ;;
    restart) eval "$restart_precmd" || exit 3; echo RESTART ;;
    reload) eval "$reload_precmd" || exit 3; eval "$reload_cmd" ;;
    configtest) eval "$configtest_cmd" ;;
    vars) echo "desc=$desc"; echo "required_modules=$required_modules";
          echo "extra_commands=$extra_commands"; echo "pidfile=$pidfile" ;;
    esac
}
"""


def _rc(
    tmp: Path, cmd: str, config_ok: bool, module_ok: bool = True, **rcconf: str
) -> subprocess.CompletedProcess:
    prefix = tmp / "prefix"
    (prefix / "bin").mkdir(parents=True, exist_ok=True)
    log = tmp / "calls.log"
    prog = prefix / "bin/aqmllmd"
    prog.write_text(f'#!/bin/sh\necho "aqmllmd $*" >> {log}\nexit {0 if config_ok else 1}\n')
    prog.chmod(0o755)
    bindir = tmp / "bin"
    bindir.mkdir(exist_ok=True)
    sysctl = bindir / "sysctl"
    sysctl.write_text(f'#!/bin/sh\necho "sysctl $*" >> {log}\n')
    sysctl.chmod(0o755)
    (tmp / "rc.subr").write_text(STUB_RC_SUBR)
    script = RC.read_text().replace("%%PREFIX%%", str(prefix))
    script = script.replace(". /etc/rc.subr", f". {tmp / 'rc.subr'}")
    setvars = "".join(f"{k}='{v}'\n" for k, v in rcconf.items())
    script = script.replace("load_rc_config $name\n", f"load_rc_config $name\n{setvars}")
    (tmp / "aqmllmd").write_text(script)
    env = {
        **os.environ,
        "PATH": f"{bindir}:{os.environ['PATH']}",
        "CALLS_LOG": str(log),
        "LOAD_KLD_RC": "0" if module_ok else "1",
    }
    return subprocess.run(
        ["sh", str(tmp / "aqmllmd"), cmd], capture_output=True, text=True, env=env
    )


def _calls(tmp: Path) -> list[str]:
    log = tmp / "calls.log"
    return log.read_text().splitlines() if log.exists() else []


def test_a_bad_config_stops_the_start_before_any_sysctl(tmp_path: Path) -> None:
    res = _rc(tmp_path, "start", False, aqmllmd_sysctls="net.inet.ip.dummynet.llm.batch_size=64")
    assert res.returncode != 0
    assert [c for c in _calls(tmp_path) if c.startswith("sysctl")] == []
    assert any("--check-config" in c for c in _calls(tmp_path))


def test_start_loads_the_module_checks_then_applies_sysctls_then_runs_daemon8(
    tmp_path: Path,
) -> None:
    res = _rc(
        tmp_path,
        "start",
        True,
        aqmllmd_sysctls=" ".join(
            f"net.inet.ip.dummynet.llm.{kv}" for kv in ("batch_size=64", "fallback=pie")
        ),
        aqmllmd_restart_delay="7",
    )
    assert res.returncode == 0, res.stderr
    calls = _calls(tmp_path)
    # the module first: the check looks for its device, the sysctls are its tree
    assert calls[0] == "load_kld -m dn_aqm_llm dn_aqm_llm"
    assert calls[1].startswith("aqmllmd --check-config -c ")
    assert calls[2:] == [
        "sysctl net.inet.ip.dummynet.llm.batch_size=64",
        "sysctl net.inet.ip.dummynet.llm.fallback=pie",
    ]
    start = res.stdout.strip().splitlines()[-1].split()
    assert start[:2] == ["START", "/usr/sbin/daemon"]
    assert start[start.index("-R") + 1] == "7"
    prefix = str(tmp_path / "prefix")
    assert f"{prefix}/bin/aqmllmd" in start and f"{prefix}/etc/aqmllmd.toml" in start


def test_a_module_that_does_not_load_stops_the_start(tmp_path: Path) -> None:
    res = _rc(
        tmp_path, "start", True, False, aqmllmd_sysctls="net.inet.ip.dummynet.llm.batch_size=64"
    )
    assert res.returncode != 0
    assert _calls(tmp_path) == ["load_kld -m dn_aqm_llm dn_aqm_llm"]


def test_the_daemons_arguments_reach_the_check_and_the_start(tmp_path: Path) -> None:
    args = "--set inference.policy=fallback-echo --log-level debug"
    res = _rc(tmp_path, "start", True, aqmllmd_args=args)
    assert res.returncode == 0, res.stderr
    check = next(c for c in _calls(tmp_path) if "--check-config" in c)
    assert check.endswith(args)
    assert res.stdout.strip().splitlines()[-1].endswith(args)


@pytest.mark.parametrize("cmd", ["restart", "reload", "configtest"])
def test_restart_reload_and_configtest_load_the_module_and_run_the_check(
    tmp_path: Path, cmd: str
) -> None:
    res = _rc(tmp_path, cmd, False, aqmllmd_args="--set a=b")
    assert res.returncode != 0
    calls = _calls(tmp_path)
    assert calls[0] == "load_kld -m dn_aqm_llm dn_aqm_llm"
    assert calls[1].startswith("aqmllmd --check-config") and calls[1].endswith("--set a=b")


def test_rc_conventions(tmp_path: Path) -> None:
    text = RC.read_text()
    assert re.search(r"^# KEYWORD:.*\bnojail\b", text, re.M)
    assert "/usr/local" not in text and "python3" not in text
    assert "aqmllmd_restart_delay" in text.split(". /etc/rc.subr")[0]  # documented
    assert 'dn_aqm_llm_load="YES"' in text
    out = _rc(tmp_path, "vars", True).stdout
    assert "desc=Inference daemon" in out and "required_modules=dn_aqm_llm" in out
    assert "configtest" in out.split("extra_commands=")[1].splitlines()[0]
