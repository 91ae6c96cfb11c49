"""Make cctbx and torch safe to load in one process, whatever the order of use.

cctbx-base's wheel carries its own libstdc++ (newer than the system one torch binds to). When torch is
imported first, the system libstdc++ wins and loading boost_adaptbx later segfaults. Loading the wheel's
libstdc++ into the global symbol namespace *before* torch fixes both orders (and keeps torch's OpenMP
thread pool, which cctbx's libomptbx otherwise replaces when cctbx loads first). `import xrdplug` does
this once; it costs a few milliseconds and imports neither cctbx nor torch.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import sys
from pathlib import Path

_state: dict[str, object] = {"preloaded": None, "torch_was_first": False}


def _cctbx_libstdcxx() -> Path | None:
    spec = importlib.util.find_spec("cctbx")
    if spec is None or not spec.submodule_search_locations:
        return None
    site = Path(next(iter(spec.submodule_search_locations))).parent
    libs = sorted((site / "cctbx_base.libs").glob("libstdc++*.so*"))
    return libs[-1] if libs else None


def preload_cctbx_runtime() -> Path | None:
    """Load cctbx's libstdc++ globally, once. Returns the library loaded (None where not needed)."""
    if _state["preloaded"] is not None:
        return _state["preloaded"]  # type: ignore[return-value]
    _state["torch_was_first"] = "torch" in sys.modules and "boost_python_meta_ext" not in sys.modules
    lib = _cctbx_libstdcxx()
    if lib is not None and not _state["torch_was_first"]:
        ctypes.CDLL(str(lib), mode=ctypes.RTLD_GLOBAL)
        _state["preloaded"] = lib
    return lib


def _libstdcxx_in_process(lib: Path) -> bool:
    try:
        return lib.name in Path("/proc/self/maps").read_text()
    except OSError:
        return False


def check_cctbx_loadable() -> None:
    """Raise a clear error instead of letting cctbx segfault in a process where torch came first."""
    from .errors import XrdplugError

    if "boost_python_meta_ext" in sys.modules or "torch" not in sys.modules:
        return
    lib = _cctbx_libstdcxx()
    if lib is None or _libstdcxx_in_process(lib):
        return
    raise XrdplugError(
        "torch was imported before cctbx in this process, and loading cctbx now would crash "
        "(cctbx-base ships its own libstdc++). Put `import xrdplug` (or `import cctbx`) before "
        f"`import torch` in your script, or start Python with LD_PRELOAD={lib}"
    )


def worker_env() -> dict[str, str]:
    """Environment for child processes that may load torch before cctbx."""
    env = dict(os.environ)
    lib = _cctbx_libstdcxx()
    if lib is not None:
        env["LD_PRELOAD"] = ":".join(p for p in (str(lib), env.get("LD_PRELOAD", "")) if p)
    return env
