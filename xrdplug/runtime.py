"""Make cctbx, torch, RDKit and scipy safe to load in one process, whatever the order of use.

cctbx-base's wheel carries its own libstdc++ (newer than the system one that torch, RDKit, scipy and
matplotlib bind to). Measured with cctbx-base 2025.11: when the system libstdc++ is initialised first by
torch, `rdkit`, `scipy.optimize`, `scipy.spatial` or `matplotlib.pyplot`, loading cctbx later kills the
process with a segmentation fault (numpy alone is harmless). Loading the wheel's libstdc++ into the global
symbol namespace *before* any of them fixes every order (and keeps torch's OpenMP thread pool, which
cctbx's libomptbx otherwise replaces when cctbx loads first). `import xrdplug` does this once; it costs a
few milliseconds and imports none of those libraries.

When something else came first, the damage may already be done and cannot be undone in this process.
Then the first import of a cctbx package is tried in a forked child (about 0.2 s); if the child crashes,
the import raises an ImportError that names the fix instead of letting the process die. Worker
processes get the wheel's libstdc++ through LD_PRELOAD.

RDKit and cctbx both use boost.python, and their converter registries meet in one process. Measured
(RDKit 2026.09, cctbx-base 2025.11): with cctbx loaded first, RDKit works whatever is imported later. With
some of RDKit loaded before cctbx, RDKit modules imported after cctbx break: importing AllChem fails ("No
to_python (by-value) converter found for std::basic_string_view"), or calls fail ("Python argument types
did not match C++ signature" from rdDetermineBonds). So when cctbx is first imported after part of RDKit,
the import hook loads every RDKit module xrdplug uses (RDKIT_MODULES) before cctbx. A script that imports
RDKit first and, after cctbx, an RDKit module outside that list may still meet the error: import cctbx
(or xrdplug's bridges) first.
"""

from __future__ import annotations

import ctypes
import importlib
import importlib.abc
import importlib.util
import os
import sys
from pathlib import Path

CCTBX_PACKAGES = frozenset({"cctbx", "iotbx", "smtbx", "scitbx", "mmtbx", "boost_adaptbx", "boost_python_meta_ext"})
# modules seen to initialise the system libstdc++ in a way that breaks cctbx loaded afterwards
NATIVE_MODULES = ("torch", "rdkit", "scipy.optimize", "scipy.spatial", "matplotlib.pyplot", "sklearn")
# RDKit modules xrdplug uses: loaded together before cctbx when RDKit came first (see the module docstring)
RDKIT_MODULES = ("rdkit.Chem", "rdkit.Chem.AllChem", "rdkit.Chem.rdDetermineBonds", "rdkit.Chem.rdMolDescriptors",
                 "rdkit.Chem.EnumerateStereoisomers", "rdkit.Chem.rdMolTransforms", "rdkit.Chem.rdMolAlign",
                 "rdkit.Chem.Descriptors", "rdkit.Chem.Lipinski", "rdkit.RDLogger")
_state: dict[str, object] = {"preloaded": None, "guard": None, "probe": None}


def _cctbx_libstdcxx() -> Path | None:
    spec = importlib.util.find_spec("cctbx")
    if spec is None or not spec.submodule_search_locations:
        return None
    site = Path(next(iter(spec.submodule_search_locations))).parent
    libs = sorted((site / "cctbx_base.libs").glob("libstdc++*.so*"))
    return libs[-1] if libs else None


def _mapped_libstdcxx() -> list[str]:
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return []
    return sorted({line.split()[-1] for line in maps.splitlines() if "libstdc++" in line})


def _cctbx_loaded() -> bool:
    return "boost_python_meta_ext" in sys.modules


def native_modules_loaded() -> list[str]:
    """The modules of NATIVE_MODULES already imported in this process."""
    return [m for m in NATIVE_MODULES if m in sys.modules]


def preload_cctbx_runtime() -> Path | None:
    """Load cctbx's libstdc++ globally, once; guard cctbx imports when another libstdc++ came first."""
    if _state["preloaded"] is not None:
        return _state["preloaded"]  # type: ignore[return-value]
    lib = _cctbx_libstdcxx()
    if lib is None:
        return None
    foreign = [m for m in _mapped_libstdcxx() if Path(m).name != lib.name]
    _install_guard(lib, probe=bool(foreign) and not _cctbx_loaded())
    ctypes.CDLL(str(lib), mode=ctypes.RTLD_GLOBAL)
    _state["preloaded"] = lib
    return lib


def _advice(lib: Path | None) -> str:
    first = ", ".join(native_modules_loaded()) or "a library using the system libstdc++"
    fix = f", or start Python with LD_PRELOAD={lib}" if lib is not None else ""
    return (
        f"cctbx cannot load in this process: {first} was imported before cctbx and xrdplug, and cctbx-base "
        f"ships its own libstdc++. Put `import xrdplug` (or `import cctbx`) first in your script{fix}"
    )


def _probe_cctbx() -> bool:
    """Does cctbx load in a fork of this process? (A crash there would have been a crash here.)"""
    if _state["probe"] is not None:
        return bool(_state["probe"])
    try:
        pid = os.fork()
    except OSError:
        return True  # cannot tell: let the import go ahead
    if pid == 0:  # pragma: no cover  (the child)
        code = 1
        sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _CctbxImportGuard)]
        try:
            import cctbx.array_family.flex  # noqa: F401
            import cctbx.xray  # noqa: F401

            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    ok = os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    _state["probe"] = ok
    return ok


class _CctbxImportGuard(importlib.abc.MetaPathFinder):
    """Runs before the first cctbx import: completes a partial RDKit first, and (when another libstdc++
    came first) turns the segfault of a doomed cctbx import into an ImportError with the fix."""

    def __init__(self, lib: Path | None, probe: bool) -> None:
        self.lib = lib
        self.probe = probe

    def find_spec(self, fullname: str, path: object = None, target: object = None) -> None:
        if fullname.partition(".")[0] not in CCTBX_PACKAGES or _cctbx_loaded():
            return None
        sys.meta_path.remove(self)  # once, whatever happens below
        _state["guard"] = None
        if self.probe and not _probe_cctbx():
            sys.meta_path.insert(0, self)
            _state["guard"] = self
            raise ImportError(_advice(self.lib))
        if "rdkit" in sys.modules:  # RDKit's modules all before cctbx (see the module docstring)
            for module in RDKIT_MODULES:
                if module not in sys.modules:
                    importlib.import_module(module)
        return None


def _install_guard(lib: Path | None, probe: bool) -> None:
    if _state["guard"] is None and not _cctbx_loaded():
        guard = _CctbxImportGuard(lib, probe)
        sys.meta_path.insert(0, guard)
        _state["guard"] = guard


def check_cctbx_loadable() -> None:
    """Raise a clear XrdplugError where loading cctbx now would crash this process."""
    from .errors import XrdplugError

    guard = _state["guard"]
    if _cctbx_loaded() or guard is None or not guard.probe:  # type: ignore[attr-defined]
        return
    if not _probe_cctbx():
        raise XrdplugError(_advice(_cctbx_libstdcxx()))


def worker_env() -> dict[str, str]:
    """Environment for child processes that may load torch or RDKit before cctbx."""
    env = dict(os.environ)
    lib = _cctbx_libstdcxx()
    if lib is not None:
        env["LD_PRELOAD"] = ":".join(p for p in (str(lib), env.get("LD_PRELOAD", "")) if p)
    return env


def load_torch_first() -> None:
    """torch before cctbx keeps torch's thread pool (see xrdplug.runtime); harmless if already loaded."""
    if "torch" not in sys.modules and "boost_python_meta_ext" not in sys.modules:
        import torch  # noqa: F401
