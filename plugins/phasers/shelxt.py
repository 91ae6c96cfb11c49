"""The `shelxt` phaser: runs G. Sheldrick's SHELXT (not shipped; a licence from the SHELX site).

The program is found through the XRDPLUG_SHELXT environment variable (a path) or `shelxt` on PATH. It
runs in a scratch folder (name.ins + name.hkl written there), with a timeout; the user's files are never
touched. The best solution, name_a.res, is read back through iotbx.shelx with SHELXT's own figures.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from xrdplug.plugin_api import PhasingResult, XrdplugError, hookimpl

NOT_FOUND = "shelxt not found on PATH; set XRDPLUG_SHELXT=/path/to/shelxt or use --phaser charge-flipping"
DEFAULT_TIMEOUT = 600.0


def find_shelxt() -> tuple[str | None, str]:
    """(path to the program or None, why)."""
    env = os.environ.get("XRDPLUG_SHELXT")
    if env:
        p = Path(env).expanduser()
        if p.is_file() and os.access(p, os.X_OK):
            return str(p), f"XRDPLUG_SHELXT={p}"
        found = shutil.which(env)
        if found:
            return found, f"XRDPLUG_SHELXT={env}"
        return None, f"XRDPLUG_SHELXT={env} is not an executable file; fix it or use --phaser charge-flipping"
    found = shutil.which("shelxt")
    if found:
        return found, f"on PATH: {found}"
    return None, NOT_FOUND


class ShelxtPhaser:
    name = "shelxt"
    description = "SHELXT (external program: XRDPLUG_SHELXT or shelxt on PATH)"

    def available(self) -> tuple[bool, str]:
        exe, why = find_shelxt()
        return exe is not None, why

    def solve(self, f_obs: Any, **options: Any) -> PhasingResult:
        """Options: formula, timeout (s, default 600), shelxt_args (extra arguments), keep (a folder)."""
        exe, why = find_shelxt()
        if exe is None:
            raise XrdplugError(why)
        from cctbx_bridge.shelx_files import read_shelxt_solution, write_shelxt_input

        timeout = float(options.get("timeout") or DEFAULT_TIMEOUT)
        extra = [str(a) for a in (options.get("shelxt_args") or [])]
        name = "xrdplug"
        t0 = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="xrdplug-shelxt-") as tmp:
            folder = Path(tmp)
            written = write_shelxt_input(f_obs, folder, name=name, formula=options.get("formula"))
            log = _run(exe, [name, *extra], folder, timeout)
            res = folder / f"{name}_a.res"
            if not res.exists() or res.stat().st_size == 0:
                tail = " ".join(log.strip().splitlines()[-3:])[-300:]
                raise XrdplugError(
                    f"shelxt wrote no solution ({name}_a.res missing){': ' + tail if tail else ''}"
                )
            try:
                structure, figures = read_shelxt_solution(res)
            except XrdplugError as exc:
                raise XrdplugError(f"shelxt's solution could not be read: {exc}") from None
            keep = options.get("keep")
            if keep:
                shutil.copytree(folder, Path(keep), dirs_exist_ok=True)
            lxt = folder / f"{name}.lxt"
            if lxt.exists():
                log += "\n" + lxt.read_text(errors="replace")
        figures["notes"] = written.notes
        return PhasingResult(
            structure=structure, phaser=self.name, seconds=time.perf_counter() - t0, figures=figures, log=log
        )


def _run(exe: str, args: list[str], cwd: Path, timeout: float) -> str:
    """Run the program in its own process group; kill the whole group on timeout."""
    try:
        proc = subprocess.Popen(
            [exe, *args],
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            errors="replace",
            start_new_session=True,
        )
    except OSError as exc:
        raise XrdplugError(f"shelxt could not be started ({exe}): {exc.strerror or exc}") from None
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            proc.kill()
        proc.communicate()
        raise XrdplugError(
            f"shelxt did not finish within {timeout:g} s and was stopped (raise --timeout)"
        ) from None
    if proc.returncode != 0:
        tail = " ".join(out.strip().splitlines()[-3:])[-300:]
        raise XrdplugError(f"shelxt failed (exit code {proc.returncode}){': ' + tail if tail else ''}")
    return out


@hookimpl
def xrdplug_register_phasers() -> list[object]:
    return [ShelxtPhaser()]
