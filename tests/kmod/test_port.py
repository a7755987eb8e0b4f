"""The port skeleton (ports/net/aqmllm): its files against each other and
against the tree (portlint itself is FreeBSD's, ports-mgmt/portlint, and
cannot be installed here), and the sample configuration it installs."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RC = ROOT / "rc.d/aqmllmd.in"
PORT = ROOT / "ports/net/aqmllm"


def test_portlint_is_not_available_here() -> None:
    if shutil.which("portlint"):
        res = subprocess.run(["portlint", "-A"], cwd=PORT, capture_output=True, text=True)
        assert res.returncode == 0, res.stdout + res.stderr
    else:
        pytest.skip("portlint is FreeBSD's (ports-mgmt/portlint): checked by the tests below")


# ---- the port ----


def _port_vars() -> dict[str, str]:
    text = re.sub(r"\\\n\s*", " ", (PORT / "Makefile").read_text())
    return {m[1]: m[2].strip() for m in re.finditer(r"^([A-Z_]+)[?+]?=\s*(.*)$", text, re.M)}


def test_port_makefile_has_what_a_port_needs() -> None:
    v = _port_vars()
    for key in ("PORTNAME", "DISTVERSION", "CATEGORIES", "MAINTAINER", "COMMENT", "WWW"):
        assert v.get(key), f"{key} missing"
    assert v["LICENSE"] == "BSD2CLAUSE" and v["USE_RC_SUBR"] == "aqmllmd"
    assert {"kmod", "python"} <= set(v["USES"].split())
    assert "DISTVERSION" in v and "0.1.0" == v["DISTVERSION"]
    assert (PORT / "Makefile").read_text().rstrip().endswith(".include <bsd.port.mk>")
    # the Python version the project declares is the one packaged
    assert 'version = "0.1.0"' in (ROOT / "pyproject.toml").read_text()


def test_port_files_exist_for_what_the_makefile_names() -> None:
    v = _port_vars()
    assert (PORT / "files/aqmllmd.in").resolve() == RC.resolve()
    for sub in v["SUB_FILES"].split():
        assert (PORT / "files" / f"{sub}.in").exists() or (PORT / sub).exists(), sub
    for f in ("pkg-descr", "pkg-plist", "pkg-message"):
        assert (PORT / f).read_text().strip(), f
    assert (PORT / "pkg-message").read_text().lstrip().startswith("[")
    assert "type: install" in (PORT / "pkg-message").read_text()


def test_plist_lists_the_module_and_each_man_page_once() -> None:
    plist = (PORT / "pkg-plist").read_text().split()
    assert "%%KMODDIR%%/dn_aqm_llm.ko" in plist
    pages = sorted(p.name for p in (ROOT / "kmod/man").glob("*.[48]"))
    listed = sorted(Path(p).name.removesuffix(".gz") for p in plist if "/man/man" in p)
    assert listed == pages
    kmake = (ROOT / "kmod/Makefile").read_text()
    assert re.search(
        r"^MAN=\s*" + r"\s+".join(["dn_aqm_llm.4", "aqmllmd.8", "aqmllmctl.8"]), kmake, re.M
    )
    assert kmake.count("maninstall") == 1 and ".include <bsd.man.mk>" in kmake


def test_logs_rotate_where_syslog_writes_them() -> None:
    target = (PORT / "files/aqmllmd.syslog").read_text().split()[-2]
    fields = [
        line.split()
        for line in (PORT / "files/aqmllmd.newsyslog").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert len(fields) == 1 and len(fields[0]) == 7 and fields[0][0] == target
    assert "-T aqmllmd" in RC.read_text() or "-T ${name}" in RC.read_text()


def test_installed_sample_config_runs_the_installed_student(tmp_path: Path) -> None:
    # the installed layout: PYTHON_SITELIBDIR/aqmllm/models/shipped/student
    sitelib = tmp_path / "site-packages"
    (sitelib / "aqmllm/models/shipped").mkdir(parents=True)
    (sitelib / "aqmllm/models/shipped/student").symlink_to(ROOT / "models/shipped/student")
    sample = (PORT / "files/aqmllmd.toml.sample.in").read_text()
    cfg = tmp_path / "aqmllmd.toml"
    cfg.write_text(sample.replace("%%PYTHON_SITELIBDIR%%", str(sitelib)))
    res = subprocess.run(
        [sys.executable, "-m", "aqmllm.daemon.main", "--check-config", "-c", str(cfg)],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, res.stderr
    from aqmllm.daemon.config import load_config

    c = load_config(cfg)
    assert c["ring.path"] == "/dev/aqmllm" and c["inference.policy"] == "model"
    assert (Path(c["inference.model"]) / "manifest.json").exists()


def test_ring_path_default_is_the_platforms() -> None:
    from aqmllm.daemon.config import SCHEMA

    want = "/dev/aqmllm" if sys.platform.startswith("freebsd") else "/dev/shm/aqmllm"
    assert SCHEMA["ring"]["path"].default == want
