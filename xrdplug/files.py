"""Safe output: never write over an input, never leave a half-written file behind."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from .errors import XrdplugError


def check_input(path: str | os.PathLike[str]) -> Path:
    p = Path(path)
    if not p.exists():
        raise XrdplugError(f"{p}: no such file")
    if p.is_dir():
        raise XrdplugError(f"{p}: is a folder, not a file")
    if p.stat().st_size == 0:
        raise XrdplugError(f"{p}: the file is empty")
    return p


def check_output(
    path: str | os.PathLike[str], inputs: Sequence[str | os.PathLike[str]] = (), overwrite: bool = True
) -> Path:
    """Refuse an output in a missing folder or equal to one of the inputs; with overwrite=False, refuse an
    existing file too (the CLI's default: a user's file is replaced only with --overwrite)."""
    out = Path(path)
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.is_dir():
        raise XrdplugError(f"{out}: the folder {parent} does not exist; create it first")
    for inp in inputs:
        if inp is None:
            continue
        ip = Path(inp)
        same = out.resolve() == ip.resolve() or (out.exists() and ip.exists() and os.path.samefile(out, ip))
        if same:
            raise XrdplugError(f"{out}: refusing to write over the input file; choose another output name")
    if not overwrite and out.exists():
        raise XrdplugError(f"{out}: already exists; pass --overwrite to replace it")
    return out


def umask() -> int:
    """The process umask, read without changing it where Linux tells it (/proc), else set and restored."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    old = os.umask(0o022)
    os.umask(old)
    return old


@contextlib.contextmanager
def atomic_output(
    path: str | os.PathLike[str], inputs: Sequence[str | os.PathLike[str]] = (), overwrite: bool = True
) -> Iterator[Path]:
    """Yield a temporary path beside `path`; it replaces `path` only if the block finishes.

    The one way xrdplug writes a file: the temporary file is flushed to disk (fsync) and given the mode a
    plain open() would give it (0666 less the umask; mkstemp's own 0600 would hide outputs from the group),
    then renamed over `path`, so a crash or a killed process never leaves a half-written file.
    """
    out = check_output(path, inputs, overwrite)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent if str(out.parent) else ".")
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if not tmp_path.exists() or tmp_path.stat().st_size == 0:
            raise XrdplugError(f"{out}: nothing was written")
        with open(tmp_path, "rb") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp_path, 0o666 & ~umask())
        os.replace(tmp_path, out)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()
