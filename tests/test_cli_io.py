"""`xrdplug --help`, `info` and `convert` from a fresh process, good input and bad."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


def test_help_loads_neither_torch_nor_cctbx_nor_rdkit():
    # what keeps --help fast (its time is shown by `python -X importtime -m xrdplug --help`, not asserted
    # here: a shared CI machine's wall clock says more about its load than about the code)
    code = (
        "import sys; sys.argv = ['xrdplug', '--help']\n"
        "from xrdplug import cli\n"
        "try:\n    cli.main()\nexcept SystemExit:\n    pass\n"
        "print('LOADED', 'torch' in sys.modules, 'cctbx' in sys.modules, 'rdkit' in sys.modules)"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    loaded = res.stdout.strip().splitlines()[-1].split()
    assert loaded == ["LOADED", "False", "False", "False"]
    for command in ("info", "convert", "plugins"):
        assert command in res.stdout


def test_info_reports_what_it_read(cli, thpp):
    res = cli("info", thpp["hkl"])
    assert res.returncode == 0, res.stderr
    out = " ".join(res.stdout.split())
    for expected in ("P 1 21/n 1", "2975 unique", "0.700 A", "100.0 %", "Iobs, SigIobs (intensities)",
                     "French-Wilson", "thpp.ins"):
        assert expected in out


@pytest.mark.parametrize("first, second", [(".mtz", ".cif"), (".cif", ".hkl"), (".hkl", ".mtz")])
def test_convert_chain(cli, thpp, tmp_path: Path, first: str, second: str):
    a, b = tmp_path / f"a{first}", tmp_path / f"b{second}"
    ins = ["--ins", str(thpp["ins"])]
    res = cli("convert", thpp["hkl"], a)
    assert res.returncode == 0, res.stderr
    res = cli("convert", a, b, *(ins if first == ".hkl" else []))
    assert res.returncode == 0, res.stderr
    res = cli("info", b, *(ins if second == ".hkl" else []))
    assert res.returncode == 0, res.stderr
    assert "2975 unique" in res.stdout


@pytest.mark.parametrize(
    "make, args, message",
    [
        (None, ["info", "{tmp}/missing.mtz"], "no such file"),
        ("", ["info", "{tmp}/empty.mtz"], "empty"),
        ("hello\n", ["info", "{tmp}/text.mtz"], "not a readable MTZ"),
        ("1 2 3 4.0 1.0\n", ["info", "{tmp}/x.hkl"], "no cell or symmetry"),
        ("data_x\n_cell.length_a 5\n", ["info", "{tmp}/x.cif"], "no _refln|no amplitude|not a readable"),
        (None, ["convert", "{thpp}", "{tmp}/no/such/folder/out.mtz"], "does not exist"),
        (None, ["convert", "{thpp}", "{thpp}"], "refusing to write over the input"),
        (None, ["info", "{tmp}/file.xyz"], "no such file|unknown file type"),
    ],
)
def test_bad_input_one_line_no_traceback(cli, thpp, tmp_path: Path, make, args, message):
    import re

    if make is not None:
        name = args[1].replace("{tmp}/", "")
        (tmp_path / name).write_text(make)
    argv = [a.replace("{tmp}", str(tmp_path)).replace("{thpp}", str(thpp["hkl"])) for a in args]
    before = thpp["hkl"].stat().st_mtime_ns
    res = cli(*argv)
    assert res.returncode != 0
    assert "Traceback" not in res.stderr
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("xrdplug: error:"), res.stderr
    assert re.search(message, lines[0]), lines[0]
    assert thpp["hkl"].stat().st_mtime_ns == before
    assert not list(tmp_path.glob(".*.tmp"))
