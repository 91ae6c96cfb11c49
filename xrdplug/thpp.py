"""The thpp example (`xrdplug demo`, tests): real measured data and the published structure, both shipped
with cctbx-base, so a user can see a solve without bringing data."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .solving import read_reference

if TYPE_CHECKING:  # pragma: no cover
    from cctbx import miller, xray


def thpp_paths() -> dict[str, Path]:
    """thpp.hkl / thpp.ins / thpp.cif shipped with cctbx-base (smtbx/regression/test_data)."""
    from cctbx_bridge.structures import test_data_path

    return {ext: test_data_path(f"thpp.{ext}") for ext in ("hkl", "ins", "cif")}


THPP_FORMULA = "C10H10F2N4"  # thpp.ins: UNIT 40 40 8 16, Z = 4
THPP_SMILES = "N#Cc1c(F)c(F)nc2c1N(C)CCN2C"  # read off thpp.cif's bonds (see tests/test_direct_space.py)


def thpp_data() -> tuple[miller.array, xray.structure]:
    """thpp's measured amplitudes (0.70 A, French-Wilson) and its published structure (thpp.cif)."""
    from .sources import read_reflections

    p = thpp_paths()
    data = read_reflections(p["hkl"])
    return data.f_obs, read_reference(p["cif"])
