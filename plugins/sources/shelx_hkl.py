"""SHELX HKLF 4 (.hkl): intensities; the cell and symmetry come from name.ins/.res beside it or options.

HKLF 4 has no room for a flag, so it is never given predicted reflections unless the user allows it
(`convert --allow-predicted`, with a warning) and it writes the measured intensities when the source had
them (never F^2 of French-Wilson amplitudes, which a reader would convert a second time).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from xrdplug.plugin_api import ReflectionData, hookimpl


def _hklf_line(line: bytes) -> bool:
    """h k l I sigma(I) in SHELX's fixed columns 3I4, 2F8.2 (fields may touch, so not split on blanks)."""
    try:
        for a, b in ((0, 4), (4, 8), (8, 12)):
            int(line[a:b])
        float(line[12:20]), float(line[20:28])
    except ValueError:
        return False
    return True


class ShelxHklSource:
    name = "shelx-hkl"
    suffixes = (".hkl",)
    description = "SHELX HKLF 4; symmetry from --ins, name.ins/.res beside it, or --cell/--space-group"
    can_write = True
    can_flag_predicted = False
    writes_intensities_only = True

    def sniff(self, head: bytes) -> bool:
        lines = [line for line in head.splitlines() if line.strip()][:6]
        complete = lines[:-1] if len(lines) > 1 else lines  # the last may be cut at SNIFF_BYTES
        return bool(complete) and all(_hklf_line(line) for line in complete)

    def read(self, path: Path, ins: str | Path | None = None, cell: str | None = None,
             space_group: str | None = None, ignore_absences: bool = False, **_: Any) -> ReflectionData:
        from cctbx_bridge.reflections import read_hklf4, sibling_ins, symmetry_from_options

        notes = []
        symmetry = symmetry_from_options(cell=cell, space_group=space_group, ins=ins)
        cell_from = f"the cell of {Path(ins).name}" if ins is not None else "the cell given (--cell)"
        if symmetry is None:
            found = sibling_ins(path)
            if found is not None:
                symmetry = symmetry_from_options(ins=found)
                notes.append(f"cell and symmetry from {found.name}")
                cell_from = f"the cell of {found.name}"
        amp = read_hklf4(path, symmetry, ignore_absences=ignore_absences, cell_from=cell_from)
        return ReflectionData(amp.f_obs, self.name, amp.columns, amp.measured, notes + amp.notes, path,  # type: ignore[arg-type]
                              i_obs=amp.i_obs)

    def write(self, f_obs: Any, path: Path, i_obs: Any = None, **_: Any) -> int:
        from cctbx_bridge.reflections import write_hklf4

        return write_hklf4(f_obs, path, i_obs=i_obs)


@hookimpl
def xrdplug_register_sources() -> list[object]:
    return [ShelxHklSource()]
