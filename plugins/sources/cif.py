"""CIF reflection loops (_refln.F_meas, _refln.F_squared_meas, _refln.intensity_meas)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from xrdplug import hookimpl
from xrdplug.protocols import ReflectionData


class CifSource:
    name = "cif"
    suffixes = (".cif", ".fcf")
    description = "CIF _refln loops (iotbx.cif)"
    can_write = True

    def read(self, path: Path, ins: str | Path | None = None, cell: str | None = None,
             space_group: str | None = None, **_: Any) -> ReflectionData:
        from cctbx_bridge.reflections import read_cif_refln, symmetry_from_options

        symmetry = symmetry_from_options(cell=cell, space_group=space_group, ins=ins)
        amp = read_cif_refln(path, symmetry)
        return ReflectionData(amp.f_obs, self.name, amp.columns, amp.measured, amp.notes, path)  # type: ignore[arg-type]

    def write(self, f_obs: Any, path: Path, **_: Any) -> None:
        from cctbx_bridge.reflections import write_cif_refln

        write_cif_refln(f_obs, path)


@hookimpl
def xrdplug_register_sources() -> list[object]:
    return [CifSource()]
