"""Predicted amplitudes never pass as measured: the PREDICTED flag and its provenance travel through MTZ and
CIF, HKLF 4 (which cannot carry them) refuses them unless told, and info / solve count them."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import run_main

from xrdplug.errors import XrdplugError
from xrdplug.sources import read_reflections, write_reflections


@pytest.fixture(scope="module")
def extended(thpp_15, tiny_checkpoint):
    from xrdplug.pipeline import extend

    return extend(thpp_15, model="unet", checkpoint=str(tiny_checkpoint))


@pytest.fixture(scope="module")
def extended_mtz(extended, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ext") / "ext.mtz"
    write_reflections(extended.as_reflection_data(), out)
    return out


def _flags(data) -> dict:
    return dict(zip(data.predicted.indices(), data.predicted.data()))


def test_flags_and_provenance_survive_mtz_and_cif(extended, extended_mtz, tmp_path):
    want = dict(zip(extended.predicted.indices(), extended.predicted.data()))
    a = read_reflections(extended_mtz)
    assert a.n_predicted == 1708 and _flags(a) == want
    assert a.provenance["model"] == "unet" and a.provenance["sha256"] == extended.weights_sha256
    cif = tmp_path / "ext.cif"
    write_reflections(a, cif)
    text = cif.read_text()
    assert "_refln.xrdplug_predicted" in text and "_xrdplug_extension.sha256" in text
    b = read_reflections(cif)
    assert b.n_predicted == 1708 and _flags(b) == want
    assert b.provenance["sha256"] == extended.weights_sha256
    back = tmp_path / "back.mtz"
    write_reflections(b, back)
    c = read_reflections(back)
    assert _flags(c) == want and c.provenance["model"] == "unet"


def test_hklf4_refuses_predicted_unless_told(extended_mtz, tmp_path, capsys):
    out = tmp_path / "x.hkl"
    code, _, err = run_main(["convert", extended_mtz, out], capsys)
    assert code != 0 and not out.exists()
    line = err.strip()
    assert line.startswith("xrdplug: error:") and len(line.splitlines()) == 1
    assert "1708 of the 2010 reflections are predicted" in line and "--allow-predicted" in line
    code, stdout, err = run_main(["convert", extended_mtz, tmp_path / "m.hkl", "--measured-only"], capsys)
    assert code == 0, err
    assert len((tmp_path / "m.hkl").read_text().splitlines()) == 302 + 1  # + the 0 0 0 end line
    code, stdout, err = run_main(["convert", extended_mtz, out, "--allow-predicted"], capsys)
    assert code == 0, err
    assert "NOT measured" in err and "1708" in err  # the warning goes to stderr, where pipes don't hide it
    assert len(out.read_text().splitlines()) == 2010 + 1


def test_api_writer_refuses_predicted_to_hklf4(extended, tmp_path):
    with pytest.raises(XrdplugError, match="would pass as measured"):
        write_reflections(extended.as_reflection_data(), tmp_path / "x.hkl")
    assert list(tmp_path.iterdir()) == []


def test_info_says_how_many_are_predicted(script, extended_mtz):
    res = script("info", extended_mtz)
    assert res.returncode == 0, res.stderr
    out = " ".join(res.stdout.split())
    assert "302 measured + 1708 PREDICTED" in out
    assert "measured 8.089 - 1.500 A" in out and "measured 100.0 % (to 1.500 A)" in out
    assert "sha256" in out and "unet" in out


def test_solve_says_how_many_are_predicted(extended_mtz, tmp_path, capsys):
    code, out, err = run_main(["solve", extended_mtz, "-o", tmp_path / "s.res", "--seed", "1"], capsys)
    out = " ".join(out.split())
    assert "1708 of the 2010 reflections phased are PREDICTED by a model, not measured" in out, out + err
    assert "data reach 0.80 A: phased as given" not in out


def test_extend_of_extended_data_uses_the_measured_only(extended_mtz, tiny_checkpoint):
    from xrdplug.pipeline import extend

    again = extend(read_reflections(extended_mtz), model="unet", checkpoint=str(tiny_checkpoint))
    assert again.n_measured == 302 and again.n_predicted == 1708
    assert any("1708 predicted reflections" in n and "set aside" in n for n in again.notes)
