"""The IP_DUMMYNET3 message: bytes as FreeBSD's header lays them out."""

from __future__ import annotations

import importlib.util
import re
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from aqmllm.bridge import dnmsg
from aqmllm.bridge.dnmsg import DnMsgError, PipeConfig, build_pipe_config, parse_rate


def test_message_objects_in_ipfw_order() -> None:
    msg = build_pipe_config(
        PipeConfig(pipe=3, bandwidth_bps=100_000_000, queue_pkts=500, fallback="pie")
    )
    objs, off = [], 0
    while off < len(msg):
        length, typ, subtype, ident = struct.unpack_from("<HBBI", msg, off)
        objs.append((typ, subtype, ident, off, length))
        off += length
    assert off == len(msg)
    assert [o[0] for o in objs] == [0x80, dnmsg.DN_SCH, dnmsg.DN_LINK, dnmsg.DN_TEXT, dnmsg.DN_FS]
    assert objs[0][2] == dnmsg.DN_API_VERSION
    _, sub, _, ep_off, _ = objs[3]
    assert sub == dnmsg.DN_AQM_PARAMS
    assert msg[ep_off + 8 : ep_off + 11] == b"llm"
    ep = dnmsg.OFFSETS["dn_extra_parms"]
    (nr,) = struct.unpack_from("<I", msg, ep_off + ep["nr"])
    # par is int64_t[10] at its aligned offset (32), not packed after nr
    pars = struct.unpack_from("<10q", msg, ep_off + ep["par"])
    assert nr == 10 and pars[0] == 1 and pars[1:] == (-1,) * 9
    assert msg[ep_off + 28 : ep_off + 32] == b"\0\0\0\0"
    fs_off = objs[4][3]
    fs_nr, flags, qsize = struct.unpack_from("<IIi", msg, fs_off + 8)
    assert fs_nr == 3 + 2 * 65536 and flags & dnmsg.DN_IS_AQM and qsize == 500
    assert struct.unpack_from("<I", msg, fs_off + 84)[0] == 3 + 65536
    link_off = objs[2][3]
    assert struct.unpack_from("<iI", msg, link_off + 8) == (3, 100_000_000)


@pytest.mark.parametrize(
    ("text", "bps"),
    [("100Mbit/s", 10**8), ("1Gbit/s", 10**9), ("800Kbit/s", 800_000), ("2000", 2000)],
)
def test_rates(text: str, bps: int) -> None:
    assert parse_rate(text) == bps


@pytest.mark.parametrize(
    "cfg", [PipeConfig(pipe=0), PipeConfig(pipe=70000), PipeConfig(pipe=1, fallback="red")]
)
def test_bad_configs(cfg: PipeConfig) -> None:
    with pytest.raises(DnMsgError):
        build_pipe_config(cfg)


@pytest.mark.skipif(importlib.util.find_spec("ziglang") is None, reason="ziglang is absent")
def test_layout_matches_freebsds_header(tmp_path: Path) -> None:
    """Sizes and offsets used above, against sys/netinet/ip_dummynet.h for FreeBSD/amd64."""
    src = tmp_path / "dn.c"
    src.write_text(
        "#include <sys/types.h>\n#include <sys/socket.h>\n#include <netinet/in.h>\n"
        "#include <net/if.h>\n#include <netinet/ip_fw.h>\n#include <netinet/ip_dummynet.h>\n"
        "struct dn_id a; struct dn_link b; struct dn_sch c; struct dn_fs d;"
        " struct dn_extra_parms e;\n"
    )
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "ziglang",
            "cc",
            "-target",
            "x86_64-freebsd.14.0",
            "-c",
            "-o",
            str(tmp_path / "dn.o"),
            "-Xclang",
            "-fdump-record-layouts-simple",
            str(src),
        ],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, res.stderr
    layouts = {}
    for m in re.finditer(
        r"Type: struct (\w+)\s+Layout: <ASTRecordLayout\s+Size:(\d+).*?"
        r"FieldOffsets: \[([\d, ]*)\]>",
        res.stdout,
        re.S,
    ):
        layouts[m.group(1)] = (
            int(m.group(2)) // 8,
            [int(x) // 8 for x in m.group(3).split(",") if x.strip()],
        )
    for name, size in dnmsg.SIZES.items():
        assert layouts[name][0] == size, name
    for name, fields in dnmsg.OFFSETS.items():
        # the builder's offsets are the header's field offsets after the oid
        assert sorted(fields.values()) == layouts[name][1][1:], name
