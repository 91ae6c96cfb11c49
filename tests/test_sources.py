"""Reading MTZ / HKLF 4 / CIF through the source plugins, and writing them back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from xrdplug.errors import XrdplugError
from xrdplug.sources import read_reflections, write_reflections


def _as_dict(f):
    return {tuple(h): v for h, v in zip(f.indices(), f.data())}


def test_thpp_hkl_reads_with_symmetry_from_ins(thpp):
    data = read_reflections(thpp["hkl"])
    assert data.source == "shelx-hkl"
    assert data.measured == "intensities"
    assert any("French-Wilson" in n for n in data.notes)
    f = data.f_obs
    assert f.is_xray_amplitude_array()
    assert str(f.space_group_info()) == "P 1 21/n 1"
    assert f.size() == 3089 - 114  # 114 systematic absences set aside
    assert f.d_min() == pytest.approx(0.7, abs=1e-3)


def test_mtz_amplitudes_are_taken_as_they_are(iotbx_data):
    data = read_reflections(iotbx_data / "phaser_1.mtz")
    assert data.columns == ["FP", "SIGFP"]
    assert data.measured == "amplitudes"
    assert data.f_obs.size() == 1090


@pytest.mark.parametrize("suffix", [".mtz", ".cif"])
def test_round_trip_is_exact_within_format_precision(tmp_path: Path, thpp, suffix: str):
    f = read_reflections(thpp["hkl"]).f_obs
    out = tmp_path / f"thpp{suffix}"
    write_reflections(f, out)
    back = read_reflections(out).f_obs
    assert back.size() == f.size()
    a, b = _as_dict(f), _as_dict(back)
    assert a.keys() == b.keys()
    tol = 1e-4 if suffix == ".mtz" else 1e-3  # MTZ stores float32; CIF writes what as_cif_simple prints
    worst = max(abs(a[h] - b[h]) / max(abs(a[h]), 1.0) for h in a)
    assert worst < tol
    assert back.unit_cell().is_similar_to(f.unit_cell(), 1e-3, 1e-2)
    assert back.space_group() == f.space_group()


def test_hklf4_written_holds_the_squared_amplitudes(tmp_path: Path, thpp):
    from iotbx.reflection_file_reader import any_reflection_file

    import cctbx_bridge  # noqa: F401

    f = read_reflections(thpp["hkl"]).f_obs
    out = tmp_path / "thpp.hkl"
    write_reflections(f, out)
    i = any_reflection_file(f"{out}=hklf4").as_miller_arrays(crystal_symmetry=f.crystal_symmetry())[0]
    written, expected = _as_dict(i), _as_dict(f.f_as_f_sq())
    assert written.keys() == expected.keys()
    # HKLF 4 is F8.2: 0.01 absolute, or relative after the writer's overflow normalisation
    scale = max(expected.values()) / max(written.values())
    assert all(abs(written[h] * scale - expected[h]) <= 0.01 * scale + 1e-6 for h in expected)


def test_hkl_with_symmetry_options(tmp_path: Path, thpp):
    target = tmp_path / "x.hkl"
    target.write_bytes(thpp["hkl"].read_bytes())
    with pytest.raises(XrdplugError, match="no cell or symmetry"):
        read_reflections(target)
    data = read_reflections(target, cell="6.9196 14.5749 9.7248 90 90.637 90", space_group="P21/n")
    assert data.f_obs.size() == 3089 - 114


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "empty"),
        (b"this is a text file, not an MTZ\n" * 10, "not a readable MTZ"),
        (b"MTZ \x00\x00\x00\x00garbage", "not a readable MTZ"),
    ],
)
def test_bad_mtz_files_give_one_clear_error(tmp_path: Path, content: bytes, message: str):
    p = tmp_path / "bad.mtz"
    p.write_bytes(content)
    with pytest.raises(XrdplugError, match=message):
        read_reflections(p)


def test_truncated_mtz(tmp_path: Path, iotbx_data):
    raw = (iotbx_data / "phaser_1.mtz").read_bytes()
    p = tmp_path / "cut.mtz"
    p.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(XrdplugError):
        read_reflections(p)


def test_mtz_without_amplitudes_or_intensities(tmp_path: Path, iotbx_data):
    import iotbx.mtz

    import cctbx_bridge  # noqa: F401

    fom = [a for a in iotbx.mtz.object(str(iotbx_data / "phaser_1.mtz")).as_miller_arrays()
           if a.info().labels == ["FOM"]][0]
    p = tmp_path / "fom.mtz"
    fom.as_mtz_dataset(column_root_label="FOM", column_types="W").mtz_object().write(str(p))
    with pytest.raises(XrdplugError, match="no amplitude or intensity column"):
        read_reflections(p)


def test_unmerged_mtz_is_refused(iotbx_data):
    with pytest.raises(XrdplugError, match="unmerged"):
        read_reflections(iotbx_data / "insulin_unmerged_cutted_from_ccp4.mtz")


def test_negative_and_nan_amplitudes_are_refused(tmp_path: Path, iotbx_data):
    from cctbx.array_family import flex

    f = read_reflections(iotbx_data / "phaser_1.mtz").f_obs
    for bad, msg in ((-1.0, "negative"), (float("nan"), "NaN|[Ii]nconsistent observation/sigma")):
        data = f.data().deep_copy()
        data[3] = bad
        p = tmp_path / "bad_values.mtz"
        write_reflections(f.customized_copy(data=flex.double(np.asarray(data))), p)
        with pytest.raises(XrdplugError, match=msg):
            read_reflections(p)
        p.unlink()
