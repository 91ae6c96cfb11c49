"""CIF reflection loops (_refln.F_meas, _refln.F_squared_meas, _refln.intensity_meas), recognised by content
(a data_ block) whatever the suffix; the PREDICTED flag travels as _refln.xrdplug_predicted."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from xrdplug.plugin_api import ReflectionData, hookimpl

_DATA_BLOCK = re.compile(rb"^\s*data_\S", re.IGNORECASE | re.MULTILINE)


class CifSource:
    name = "cif"
    suffixes = (".cif", ".fcf")
    description = "CIF _refln loops (iotbx.cif), also under other suffixes (an .hkl that is a CIF)"
    can_write = True
    can_flag_predicted = True

    def sniff(self, head: bytes) -> bool:
        """A CIF: before its first data_ block only comments, blank lines or a global_ header."""
        m = _DATA_BLOCK.search(head)
        if m is None:
            return False
        before = head[: m.start()].splitlines()
        return all(not line.strip() or line.lstrip().startswith(b"#") or line.strip().lower() == b"global_"
                   for line in before)

    def read(self, path: Path, ins: str | Path | None = None, cell: str | None = None,
             space_group: str | None = None, ignore_absences: bool = False, **_: Any) -> ReflectionData:
        from cctbx_bridge.reflections import read_cif_refln, symmetry_from_options

        symmetry = symmetry_from_options(cell=cell, space_group=space_group, ins=ins)
        amp = read_cif_refln(path, symmetry, ignore_absences=ignore_absences)
        return ReflectionData(amp.f_obs, self.name, amp.columns, amp.measured, amp.notes, path,  # type: ignore[arg-type]
                              i_obs=amp.i_obs, predicted=amp.predicted, provenance=amp.provenance)

    def write(self, f_obs: Any, path: Path, predicted: Any = None, i_obs: Any = None,
              provenance: dict[str, Any] | None = None, **_: Any) -> None:
        from cctbx_bridge.reflections import write_cif_refln

        write_cif_refln(f_obs, path, predicted=predicted, i_obs=i_obs, provenance=provenance)


@hookimpl
def xrdplug_register_sources() -> list[object]:
    return [CifSource()]
