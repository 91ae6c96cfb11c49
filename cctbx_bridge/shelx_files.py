"""Files for SHELXT: write name.ins + name.hkl from amplitudes, read name_a.res and SHELXT's figures back.

- `write_shelxt_input(f_obs, folder, name, formula=None)` writes `name.ins` (TITL, CELL, ZERR, LATT/SYMM
  from the space group, SFAC/UNIT from the formula or a stated guess, HKLF 4, END) and `name.hkl` (HKLF 4
  intensities I = F^2, scaled so the strongest is 99999, sigma(I) = 2 F sigma(F) or 1% of I + 0.01 of max).
- `read_shelxt_solution(path)` reads a .res written by SHELXT into an xray.structure and its REM figures
  (R1, Rweak, Alpha, the space group and formula SHELXT found, Flack x).
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cctbx import miller, xray
from cctbx.array_family import flex
from iotbx.shelx.write_ins import LATT_SYMM

from xrdplug.errors import XrdplugError

from .phasing import parse_formula, prepare_amplitudes
from .structures import read_structure

HKL_MAX = 99999.0
GUESS_VOLUME_PER_ATOM = 18.0  # A^3 per non-H atom for the stated SFAC/UNIT guess


@dataclass
class ShelxtInput:
    ins: Path
    hkl: Path
    sfac_unit: str  # the SFAC/UNIT lines written
    guessed_composition: bool
    n_reflections: int
    notes: list[str] = field(default_factory=list)


def _unit_cell_content(
    f: miller.array, formula: str | dict[str, float] | None
) -> tuple[dict[str, float], bool]:
    """Unit-cell content for UNIT: formula (asymmetric unit) x Z, or C/N/O/H guessed from the cell volume."""
    z = f.space_group().order_z()
    if formula:
        comp = parse_formula(formula) if isinstance(formula, str) else dict(formula)
        return {el: n * z for el, n in comp.items()}, False
    n = max(1, round(f.unit_cell().volume() / GUESS_VOLUME_PER_ATOM))
    # a typical organic composition: C:N:O = 6:2:2 of the non-H atoms, and about as many H as C
    c, nn, o = round(0.6 * n), round(0.2 * n), max(1, n - round(0.6 * n) - round(0.2 * n))
    return {"C": c, "H": c, "N": nn, "O": o}, True


def ins_text(
    f: miller.array,
    formula: str | dict[str, float] | None = None,
    title: str = "xrdplug",
    wavelength: float = 0.71073,
) -> tuple[str, str, bool]:
    """The .ins text for SHELXT; returns (text, 'SFAC ...\\nUNIT ...', guessed)."""
    sg = f.space_group()
    out = io.StringIO()
    print(f"TITL {title}", file=out)
    print("CELL %.5f %.5f %.5f %.5f %.4f %.4f %.4f" % ((wavelength,) + f.unit_cell().parameters()), file=out)
    print(f"ZERR {sg.order_z()} 0.001 0.001 0.001 0.01 0.01 0.01", file=out)
    try:
        LATT_SYMM(out, sg)
    except RuntimeError as exc:
        raise XrdplugError(f"space group {f.space_group_info()} cannot be written for SHELX: {exc}") from None
    content, guessed = _unit_cell_content(f, formula)
    els = sorted(content, key=lambda e: (e != "C", e != "H", e))
    sfac_unit = "SFAC " + " ".join(els) + "\nUNIT " + " ".join(f"{content[e]:.0f}" for e in els)
    if guessed:
        print("REM composition guessed from the cell volume (no --formula given)", file=out)
    print(sfac_unit, file=out)
    print("HKLF 4", file=out)
    print("END", file=out)
    return out.getvalue(), sfac_unit, guessed


def intensities_for_hklf(f_obs: miller.array) -> miller.array:
    """I = F^2 with sigmas, scaled so the strongest is HKL_MAX (fits SHELX's F8.2 columns)."""
    f = f_obs
    sig = f.sigmas()
    f = prepare_amplitudes(f) if sig is None else f.as_non_anomalous_array().merge_equivalents().array()
    f = f.eliminate_sys_absent()
    i = f.f_as_f_sq()
    data = i.data()
    scale = HKL_MAX / flex.max(data) if flex.max(data) > 0 else 1.0
    if f.sigmas() is not None:
        sigmas = 2 * f.data() * f.sigmas() * scale
    else:
        sigmas = data * scale * 0.01 + 0.01 * HKL_MAX / 1000
    out = i.customized_copy(data=data * scale, sigmas=sigmas)
    out.set_observation_type_xray_intensity()
    return out


def write_shelxt_input(
    f_obs: miller.array,
    folder: Path,
    name: str = "xrdplug",
    formula: str | dict[str, float] | None = None,
    wavelength: float = 0.71073,
) -> ShelxtInput:
    """Write folder/name.ins and folder/name.hkl for `shelxt name` (run in `folder`)."""
    if f_obs.crystal_symmetry() is None or f_obs.space_group_info() is None:
        raise XrdplugError("the reflections carry no cell or space group; SHELXT needs both")
    folder = Path(folder)
    text, sfac_unit, guessed = ins_text(f_obs, formula, title=name, wavelength=wavelength)
    ins = folder / f"{name}.ins"
    hkl = folder / f"{name}.hkl"
    ins.write_text(text)
    iobs = intensities_for_hklf(f_obs)
    with hkl.open("w") as fh:
        iobs.export_as_shelx_hklf(file_object=fh, normalise_if_format_overflow=True)
    notes = []
    if guessed:
        notes.append(
            f"no --formula: told SHELXT {sfac_unit.replace(chr(10), ', ')} (a guess from the cell volume)"
        )
    return ShelxtInput(ins, hkl, sfac_unit, guessed, iobs.size(), notes)


_FIGURES = {
    "r1": r"R1\s*=?\s*([-\d.]+)",
    "rweak": r"Rweak\s*=?\s*([-\d.]+)",
    "alpha": r"Alpha\s*=?\s*([-\d.]+)",
    "flack": r"Flack\s+x\s*=\s*([-\d.]+)",
}


def shelxt_figures(text: str) -> dict[str, Any]:
    """SHELXT's REM figures in a _a.res: space group, R1, Rweak, Alpha, formula, Flack x (those present)."""
    figs: dict[str, Any] = {}
    rem = "\n".join(line for line in text.splitlines() if line.upper().startswith(("REM", "TITL")))
    m = re.search(r"SHELXT solution in\s+([^:]+):", rem)
    if m:
        figs["space_group"] = m.group(1).strip()
    for key, pat in _FIGURES.items():
        m = re.search(pat, rem)
        if m:
            try:
                figs[key] = float(m.group(1).rstrip("."))
            except ValueError:
                pass
    m = re.search(r"Formula found by SHELXT:\s*(.+)", rem)
    if m:
        figs["formula"] = m.group(1).strip()
    return figs


def read_shelxt_solution(path: Path) -> tuple[xray.structure, dict[str, Any]]:
    """The structure in a SHELXT .res (through iotbx.shelx) and its REM figures."""
    xs = read_structure(path)
    return xs, shelxt_figures(Path(path).read_text(errors="replace"))
