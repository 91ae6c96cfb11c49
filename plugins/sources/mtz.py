"""MTZ files (CCP4): merged amplitudes (F/SIGF) or intensities (I/SIGI, converted by French-Wilson); the
PREDICTED column and history of `xrdplug extend` output are read back and written."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from xrdplug.plugin_api import ReflectionData, hookimpl


class MtzSource:
    name = "mtz"
    suffixes = (".mtz",)
    description = "CCP4 MTZ (iotbx.mtz); --labels picks a column group; PREDICTED column kept"
    can_write = True
    can_flag_predicted = True

    def sniff(self, head: bytes) -> bool:
        return head[:4] == b"MTZ "

    def read(self, path: Path, labels: str | None = None, ignore_absences: bool = False, **_: Any) -> ReflectionData:
        from cctbx_bridge.reflections import read_mtz

        amp = read_mtz(path, labels=labels, ignore_absences=ignore_absences)
        return ReflectionData(amp.f_obs, self.name, amp.columns, amp.measured, amp.notes, path,  # type: ignore[arg-type]
                              i_obs=amp.i_obs, predicted=amp.predicted, provenance=amp.provenance)

    def write(self, f_obs: Any, path: Path, predicted: Any = None, i_obs: Any = None,
              provenance: dict[str, Any] | None = None, **_: Any) -> None:
        from cctbx_bridge.reflections import write_mtz

        write_mtz(f_obs, path, predicted=predicted, i_obs=i_obs, provenance=provenance)


@hookimpl
def xrdplug_register_sources() -> list[object]:
    return [MtzSource()]
