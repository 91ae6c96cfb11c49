"""Output files: the user's umask decides their permissions (mkstemp's 0600 used to leak through), one
atomic-write helper does all writing, and an existing output is replaced only with --overwrite."""

from __future__ import annotations

import os
import re
import stat
import subprocess
from pathlib import Path

import pytest
from conftest import console_script, run_main

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def umask_002():
    old = os.umask(0o002)
    yield 0o664
    os.umask(old)


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def test_every_kind_of_output_gets_the_umask_mode(tmp_path, umask_002, thpp_15, tiny_checkpoint):
    from cctbx_bridge.structures import read_structure, write_cif, write_res
    from xrdplug.data import shards
    from xrdplug.models.checkpoint import read_checkpoint, save_checkpoint
    from xrdplug.plotting import pyplot, save_figure
    from xrdplug.plugin_manager import registry
    from xrdplug.sources import write_reflections
    from xrdplug.thpp import thpp_paths

    made = []
    for suffix in (".mtz", ".cif", ".hkl"):
        made.append(write_reflections(thpp_15, tmp_path / f"data{suffix}").path)
    xs = read_structure(thpp_paths()["cif"])
    made.append(write_res(xs, tmp_path / "s.res"))
    made.append(write_cif(xs, tmp_path / "s.cif"))
    ck = read_checkpoint(tiny_checkpoint)
    model = registry().get("model", "unet").build(**ck["hparams"])
    made.append(save_checkpoint(tmp_path / "m.pt", model, "unet", ck["hparams"]))
    fig, _ = pyplot().subplots()
    made.append(save_figure(fig, tmp_path / "f.png"))
    shards.write_meta(tmp_path, {"format": 1})
    made.append(tmp_path / shards.META)
    shards._atomic_save(tmp_path / "shards" / "shard-00000.npz", {"x": __import__("numpy").zeros(3)})
    made.append(tmp_path / "shards" / "shard-00000.npz")
    assert {p.name: oct(_mode(p)) for p in made} == {p.name: oct(umask_002) for p in made}


def test_console_script_output_mode_follows_umask(tmp_path, thpp):
    out = tmp_path / "thpp.mtz"
    res = subprocess.run([str(console_script()), "convert", str(thpp["hkl"]), str(out)], capture_output=True,
                         text=True, umask=0o022, timeout=300)
    assert res.returncode == 0, res.stderr
    assert _mode(out) == 0o644


def test_one_atomic_write_helper():
    """files.atomic_output is the only place that makes temporary files and renames them into place."""
    offenders = []
    for path in [*ROOT.glob("xrdplug/**/*.py"), *ROOT.glob("cctbx_bridge/*.py"), *ROOT.glob("plugins/**/*.py")]:
        if path.name == "files.py" and path.parent.name == "xrdplug":
            continue
        code = "\n".join(line.split("#")[0] for line in path.read_text().splitlines())
        if re.search(r"mkstemp|NamedTemporaryFile|os\.replace\(|os\.rename\(", code):
            offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


def test_existing_outputs_are_replaced_only_with_overwrite(tmp_path, thpp, capsys):
    out = tmp_path / "x.mtz"
    out.write_text("precious")
    code, _, err = run_main(["convert", thpp["hkl"], out], capsys)
    assert code != 0 and "already exists; pass --overwrite" in err and out.read_text() == "precious"
    res = tmp_path / "s.res"
    res.write_text("precious")
    code, _, err = run_main(["solve", thpp["hkl"], "-o", res], capsys)
    assert code != 0 and "already exists; pass --overwrite" in err and res.read_text() == "precious"
    code, _, err = run_main(["extend", thpp["hkl"], "--cut", "1.5", "-m", "unet", "-o", out], capsys)
    assert code != 0 and "already exists; pass --overwrite" in err and out.read_text() == "precious"
    code, _, err = run_main(["convert", thpp["hkl"], out, "--overwrite"], capsys)
    assert code == 0, err
    assert out.read_bytes()[:4] == b"MTZ "
