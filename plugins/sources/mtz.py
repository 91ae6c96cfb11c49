"""MTZ files (CCP4): merged amplitudes (F/SIGF) or intensities (I/SIGI, converted by French-Wilson)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from xrdplug import hookimpl
from xrdplug.protocols import ReflectionData


class MtzSource:
    name = "mtz"
    suffixes = (".mtz",)
    description = "CCP4 MTZ (iotbx.mtz); --labels picks a column group"
    can_write = True

    def read(self, path: Path, labels: str | None = None, **_: Any) -> ReflectionData:
        from cctbx_bridge.reflections import read_mtz

        amp = read_mtz(path, labels=labels)
        return ReflectionData(amp.f_obs, self.name, amp.columns, amp.measured, amp.notes, path)  # type: ignore[arg-type]

    def write(self, f_obs: Any, path: Path, **_: Any) -> None:
        from cctbx_bridge.reflections import write_mtz

        write_mtz(f_obs, path)


@hookimpl
def xrdplug_register_sources() -> list[object]:
    return [MtzSource()]
