"""A wrong space group or another crystal's cell is refused with the figures, not passed silently."""

from __future__ import annotations

import pytest
from conftest import run_main

from xrdplug.errors import XrdplugError
from xrdplug.sources import read_reflections

THPP_CELL = "6.9196 14.5749 9.7248 90 90.637 90"


def test_wrong_space_group_is_refused_with_the_absence_figures(thpp):
    with pytest.raises(XrdplugError) as err:
        read_reflections(thpp["hkl"], cell=THPP_CELL, space_group="P21/c")
    msg = str(err.value)
    assert "48 of the 118 reflections that P 1 21/c 1 makes systematically absent have I/sigma(I) > 3" in msg
    assert "up to 90 sigma" in msg and "--ignore-absences" in msg


def test_ignore_absences_reads_with_a_warning(thpp):
    data = read_reflections(thpp["hkl"], cell=THPP_CELL, space_group="P21/c", ignore_absences=True)
    assert any(n.startswith("warning: 48 of the 118") for n in data.notes)


def test_the_right_space_group_passes_and_reports_its_few_strong_absences(thpp):
    data = read_reflections(thpp["hkl"])  # P21/n from thpp.ins
    assert data.f_obs.size() == 2975
    assert any("1 of the 114 reflections" in n and "multiple diffraction" in n for n in data.notes)


def test_another_crystals_ins_is_refused(thpp, smtbx_data, capsys):
    code, _, err = run_main(["info", thpp["hkl"], "--ins", smtbx_data / "sucrose_p1.res"], capsys)
    assert code != 0
    line = err.strip()
    assert len(line.splitlines()) == 1 and line.startswith("xrdplug: error:")
    assert "the indices do not fit the cell (7.783, 8.7364, 10.9002, 90, 102.984, 90)" in line
    assert "h 9/18" in line and "l 13/25" in line and "sucrose_p1.res belongs to another crystal" in line


def test_info_on_wrong_group_is_one_line(thpp, capsys):
    code, _, err = run_main(["info", thpp["hkl"], "--cell", THPP_CELL, "--space-group", "P21/c"], capsys)
    assert code != 0 and len(err.strip().splitlines()) == 1 and "makes systematically absent" in err


def test_a_file_with_its_own_cell_is_not_judged_by_its_index_range(iotbx_data):
    """cu3182Isup2.hkl is an excerpt (l <= 7 of 53): data cut short, not a wrong cell."""
    data = read_reflections(iotbx_data / "cu3182Isup2.hkl")
    assert data.f_obs.size() == 867
