"""The router binary on its own: CE marking arithmetic and argument checking."""

from __future__ import annotations

import subprocess
from pathlib import Path


def test_ce_mark_keeps_ipv4_checksums_valid(emu_router: Path) -> None:
    # 200k random IPv4 headers of every legal length: the incremental update
    # must equal a full recomputation; IPv6 gets CE without touching the flow label.
    res = subprocess.run([str(emu_router), "--selftest"], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "0 checks failed" in res.stdout


def test_router_refuses_bad_arguments_by_name(emu_router: Path) -> None:
    cases = [
        (["--rate", "fast"], "--rate: 'fast'"),
        (["--rate", "1000000", "--limit", "1"], "--limit: '1'"),
        (["--rate", "1000000", "--fallback", "red"], "unknown --fallback 'red'"),
        (["--rate", "1000000", "--host-delay", "10.0.0.1"], "expected IPV4=US"),
        (["--rate", "1000000", "--host-delay", "nohost=5"], "'nohost' is not an IPv4"),
        (["--rate", "1000000", "--ring-entries", "100000000"], "--ring-entries"),
        (["--rate", "1000000", "--rt-priority", "100"], "--rt-priority: '100'"),
    ]
    for extra, needle in cases:
        res = subprocess.run(
            [str(emu_router), "--tun-a", "x", "--tun-b", "y", *extra],
            capture_output=True,
            text=True,
        )
        assert res.returncode != 0, extra
        assert needle in res.stderr, (extra, res.stderr)
