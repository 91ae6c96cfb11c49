"""Pick the source plugin for a file and read it into amplitudes; write through the same plugins."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .errors import XrdplugError, reason
from .files import atomic_output, check_input
from .plugin_manager import registry
from .protocols import ReflectionData


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


def read_reflections(path: str | Path, fmt: str | None = None, **options: Any) -> ReflectionData:
    """Read any supported reflection file into merged amplitudes (see ReflectionData)."""
    p = check_input(path)
    src = source_for(p, fmt)
    try:
        data = src.read(p, **options)
    except XrdplugError:
        raise
    except Exception as exc:  # a reader (ours or a third party's) choking on odd bytes
        raise XrdplugError(f"{p}: the {src.name} source cannot read it ({type(exc).__name__}: {reason(exc)})") from None
    data.path = p
    return data


def write_reflections(f_obs: Any, path: str | Path, fmt: str | None = None,
                      inputs: tuple[str | Path, ...] = ()) -> Path:
    """Write amplitudes through the matching source plugin, atomically, never over an input."""
    out = Path(path)
    src = source_for(out, fmt, writing=True)
    if not getattr(src, "can_write", False):
        raise XrdplugError(f"the {src.name} source cannot write files")
    with atomic_output(out, inputs) as tmp:
        src.write(f_obs, tmp)
    return out
