"""SHELX HKLF 4 (.hkl): intensities; the cell and symmetry come from name.ins/.res beside it or options."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from xrdplug import hookimpl
from xrdplug.protocols import ReflectionData


class ShelxHklSource:
    name = "shelx-hkl"
    suffixes = (".hkl",)
    description = "SHELX HKLF 4; symmetry from --ins, name.ins/.res beside it, or --cell/--space-group"
    can_write = True

    def read(self, path: Path, ins: str | Path | None = None, cell: str | None = None,
             space_group: str | None = None, **_: Any) -> ReflectionData:
        from cctbx_bridge.reflections import read_hklf4, sibling_ins, symmetry_from_options

        notes = []
        symmetry = symmetry_from_options(cell=cell, space_group=space_group, ins=ins)
        if symmetry is None:
            found = sibling_ins(path)
            if found is not None:
                symmetry = symmetry_from_options(ins=found)
                notes.append(f"cell and symmetry from {found.name}")
        amp = read_hklf4(path, symmetry)
        return ReflectionData(amp.f_obs, self.name, amp.columns, amp.measured, notes + amp.notes, path)  # type: ignore[arg-type]

    def write(self, f_obs: Any, path: Path, **_: Any) -> None:
        from cctbx_bridge.reflections import write_hklf4

        write_hklf4(f_obs, path)


@hookimpl
def xrdplug_register_sources() -> list[object]:
    return [ShelxHklSource()]
