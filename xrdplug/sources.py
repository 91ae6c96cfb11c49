"""Pick the source plugin for a file and read it into amplitudes; write through the same plugins.

A file's format is recognised by its content first (a source plugin's `sniff`: MTZ's magic number, a CIF's
data_ block, XDS_ASCII's header, HKLF 4's columns) and by its suffix only when no content matches, so
`cu3182Isup2.hkl` (a CIF) and `XDS_ASCII.HKL` read correctly. Predicted reflections are written only to
formats that flag them, unless the caller allows it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import UnreadableError, XrdplugError, reason
from .files import atomic_output, check_input
from .plugin_manager import registry
from .protocols import ReflectionData

SNIFF_BYTES = 4096


def source_for(path: Path, fmt: str | None = None, writing: bool = False) -> Any:
    """The source plugin named `fmt`, or the one whose suffixes match the file name."""
    reg = registry()
    if fmt:
        return reg.get("source", fmt)
    suffix = path.suffix.lower()
    for name in reg.names("source"):
        src = reg.entries["source"][name].obj
        if suffix in getattr(src, "suffixes", ()) and (not writing or getattr(src, "can_write", False)):
            return src
    known = sorted({s for n in reg.names("source") for s in reg.entries["source"][n].obj.suffixes})
    raise XrdplugError(f"{path}: unknown file type '{suffix}' (known: {', '.join(known)}); or give --format")


def _sniffers() -> list[Any]:
    reg = registry()
    return [reg.entries["source"][n].obj for n in reg.names("source")
            if callable(getattr(reg.entries["source"][n].obj, "sniff", None))]


def sniff_source(path: Path) -> tuple[Any | None, list[str]]:
    """The source whose `sniff` recognises the file's first bytes, and the names of those asked."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(SNIFF_BYTES)
    except OSError as exc:
        raise XrdplugError(f"{path}: cannot be read ({reason(exc)})") from None
    asked = []
    for src in _sniffers():
        asked.append(src.name)
        try:
            if src.sniff(head):
                return src, asked
        except Exception:  # a third party's sniff choking on odd bytes says "not mine"
            continue
    return None, asked


def choose_source(path: Path, fmt: str | None = None) -> tuple[Any, str]:
    """(source plugin, how it was chosen: 'by --format', 'by content' or 'by suffix')."""
    if fmt:
        return registry().get("source", fmt), "by --format"
    src, asked = sniff_source(path)
    if src is not None:
        return src, "by content"
    try:
        return source_for(path), "by suffix"
    except XrdplugError:
        raise UnreadableError(
            f"{path}: not a reflection file xrdplug recognises: its content is none of "
            f"{', '.join(asked)} and its suffix '{path.suffix}' names no format; give --format NAME "
            "(see `xrdplug plugins`)"
        ) from None


def read_reflections(path: str | Path, fmt: str | None = None, **options: Any) -> ReflectionData:
    """Read any supported reflection file into merged amplitudes (see ReflectionData)."""
    p = check_input(path)
    src, how = choose_source(p, fmt)
    try:
        data = src.read(p, **options)
    except UnreadableError as exc:
        if how == "by suffix":
            _, asked = sniff_source(p)
            others = ", ".join(n for n in asked if n != src.name)
            raise UnreadableError(f"{exc} (formats tried: {others} by content, then {src.name} by its "
                                  f"suffix '{p.suffix}'; or give --format)") from None
        raise
    except XrdplugError:
        raise
    except Exception as exc:  # a reader (ours or a third party's) choking on odd bytes
        raise XrdplugError(f"{p}: the {src.name} source cannot read it ({type(exc).__name__}: {reason(exc)})") from None
    data.path = p
    if how == "by content" and p.suffix.lower() not in getattr(src, "suffixes", ()):
        data.notes.insert(0, f"read as {src.name} by its content (the suffix '{p.suffix}' suggests another format)")
    return data


@dataclass
class Written:
    path: Path
    source: str
    n_reflections: int
    n_predicted: int
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def write_reflections(
    data: ReflectionData | Any,
    path: str | Path,
    fmt: str | None = None,
    inputs: tuple[str | Path, ...] = (),
    allow_predicted: bool = False,
    measured_only: bool = False,
    overwrite: bool = True,
) -> Written:
    """Write amplitudes (a ReflectionData or a bare miller.array) through the matching source plugin,
    atomically, never over an input.

    Predicted reflections go only to a format that flags them (`can_flag_predicted`: MTZ, CIF). Elsewhere
    (HKLF 4) the write is refused unless `measured_only` (write the measured ones alone) or
    `allow_predicted` (write them all, unflagged: the warning says how many are predicted).
    """
    if isinstance(data, ReflectionData):
        f_obs, predicted, i_obs, provenance = data.f_obs, data.predicted, data.i_obs, dict(data.provenance)
        n_predicted = data.n_predicted
    else:
        f_obs, predicted, i_obs, provenance, n_predicted = data, None, None, {}, 0
    out = Path(path)
    src = source_for(out, fmt, writing=True)
    if not getattr(src, "can_write", False):
        raise XrdplugError(f"the {src.name} source cannot write files")
    notes: list[str] = []
    warnings: list[str] = []
    if n_predicted and measured_only:
        keep = predicted.data() == 0
        f_obs, predicted = f_obs.select(keep), None
        notes.append(f"{n_predicted} predicted reflections left out (--measured-only): {f_obs.size()} measured written")
        n_predicted = 0
    elif n_predicted and not getattr(src, "can_flag_predicted", False):
        what = f"{n_predicted} of the {f_obs.size()} reflections are predicted by {provenance.get('model', 'a model')}"
        if not allow_predicted:
            raise XrdplugError(
                f"{out}: {what} and the {src.name} format cannot mark them, so they would pass as measured; "
                "write .mtz or .cif (which flag them), or pass --measured-only, or --allow-predicted"
            )
        warnings.append(f"{out}: {what}, NOT measured, and the {src.name} format cannot say so: never refine "
                        "against them or deposit them as data")
        predicted = None
    options: dict[str, Any] = {"i_obs": i_obs}
    if getattr(src, "can_flag_predicted", False):
        options.update(predicted=predicted, provenance=provenance if n_predicted else None)
    with atomic_output(out, inputs, overwrite=overwrite) as tmp:
        result = src.write(f_obs, tmp, **options)
    if getattr(src, "writes_intensities_only", False):
        if i_obs is None:
            notes.append(f"the source held amplitudes: {src.name} gets I = F^2, sigma(I) = 2 F sigma(F); reading "
                         "it back applies French-Wilson to them (keep .mtz or .cif to keep F exactly)")
        elif isinstance(result, int) and result:
            notes.append(f"{result} reflections without measured intensities written as I = F^2")
    return Written(out, src.name, f_obs.size(), n_predicted, notes, warnings)
