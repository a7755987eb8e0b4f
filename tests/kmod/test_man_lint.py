"""The man pages are mandoc-lint clean."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = sorted((ROOT / "kmod/man").glob("*.[48]"))


@pytest.mark.skipif(
    shutil.which("mandoc") is None, reason="mandoc is not installed (make man-lint installs it)"
)
@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_man_page_lints_clean(page: Path) -> None:
    res = subprocess.run(
        ["mandoc", "-T", "lint", "-W", "warning", str(page)], capture_output=True, text=True
    )
    assert res.returncode == 0, res.stdout + res.stderr


def test_all_three_pages_exist() -> None:
    assert [p.name for p in PAGES] == ["aqmllmctl.8", "aqmllmd.8", "dn_aqm_llm.4"]
