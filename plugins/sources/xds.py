"""XDS_ASCII.HKL (XDS CORRECT / XSCALE): intensities, merged or not, with the cell and space-group number in
the header; recognised by its first line (!FORMAT=XDS_ASCII), so the .HKL suffix it shares with SHELX
files does not matter."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from xrdplug.plugin_api import ReflectionData, hookimpl


class XdsAsciiSource:
    name = "xds-ascii"
    suffixes = ()  # XDS_ASCII.HKL shares .hkl with SHELX: found by content, or --format xds-ascii
    description = "XDS_ASCII.HKL from CORRECT or XSCALE (iotbx.xds), by content"
    can_write = False

    def sniff(self, head: bytes) -> bool:
        return head.lstrip()[:17] == b"!FORMAT=XDS_ASCII"

    def read(self, path: Path, ins: str | Path | None = None, cell: str | None = None,
             space_group: str | None = None, ignore_absences: bool = False, **_: Any) -> ReflectionData:
        from cctbx_bridge.reflections import read_xds_ascii, symmetry_from_options

        symmetry = symmetry_from_options(cell=cell, space_group=space_group, ins=ins)
        amp = read_xds_ascii(path, symmetry, ignore_absences=ignore_absences)
        return ReflectionData(amp.f_obs, self.name, amp.columns, amp.measured, amp.notes, path,  # type: ignore[arg-type]
                              i_obs=amp.i_obs)

    def write(self, f_obs: Any, path: Path, **_: Any) -> None:
        from xrdplug.errors import XrdplugError

        raise XrdplugError("the xds-ascii source reads XDS output; write .mtz, .cif or .hkl instead")


@hookimpl
def xrdplug_register_sources() -> list[object]:
    return [XdsAsciiSource()]
