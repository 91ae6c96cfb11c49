"""Shared fixtures: real data shipped inside cctbx-base, located through the installed packages."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

import xrdplug  # noqa: F401  (makes cctbx and torch safe to load in either order)


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    assert spec is not None and spec.origin is not None, f"{name} is not installed"
    return Path(spec.origin).parent


@pytest.fixture(scope="session")
def smtbx_data() -> Path:
    return _package_dir("smtbx") / "regression" / "test_data"


@pytest.fixture(scope="session")
def iotbx_data() -> Path:
    return _package_dir("iotbx") / "regression" / "data"


@pytest.fixture(scope="session")
def thpp(smtbx_data: Path) -> dict[str, Path]:
    return {ext: smtbx_data / f"thpp.{ext}" for ext in ("hkl", "ins", "cif")}


def run_cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
            timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run the installed `xrdplug` entry point in a fresh process."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "xrdplug.cli", *map(str, args)],
        capture_output=True, text=True, cwd=cwd, env=full_env, timeout=timeout,
    )


def console_script() -> Path:
    """The `xrdplug` script pip installed beside this interpreter (what a user types)."""
    script = Path(sys.executable).parent / "xrdplug"
    assert script.is_file(), f"{script}: the console script is not installed (pip install -e .)"
    return script


def run_script(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
               timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run the installed `xrdplug` console script itself in a fresh process."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run([str(console_script()), *map(str, args)], capture_output=True, text=True, cwd=cwd,
                          env=full_env, timeout=timeout)


@pytest.fixture
def cli():
    return run_cli


@pytest.fixture
def script():
    return run_script


@pytest.fixture(scope="module")
def one_torch_thread():
    """One torch thread for training tests: on a shared, oversubscribed 2-core machine two OpenMP threads
    stall for seconds."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """A small untrained unet checkpoint: extend runs in a fraction of a second with it."""
    from xrdplug.models.checkpoint import save_checkpoint
    from xrdplug.plugin_manager import registry

    hp = {"filters": [4, 8, 16], "in_channels": 4}
    path = tmp_path_factory.mktemp("ckpt") / "tiny_unet.pt"
    save_checkpoint(path, registry().get("model", "unet").build(**hp), "unet", hp, meta={})
    return path


@pytest.fixture(scope="session")
def thpp_15(thpp):
    """thpp's measured amplitudes cut to 1.5 A (302 reflections), as extend's tests use them."""
    from xrdplug.sources import read_reflections

    return read_reflections(thpp["hkl"]).f_obs.resolution_filter(d_min=1.5)


def run_main(args: list[str], capsys) -> tuple[int, str, str]:
    """The CLI in this process (xrdplug.cli.main, the console script's own code path): fast."""
    from xrdplug import cli

    old = sys.argv
    sys.argv = ["xrdplug", *map(str, args)]
    code = 0
    try:
        cli.main()
    except SystemExit as exc:
        code = int(exc.code or 0)
    finally:
        sys.argv = old
    out, err = capsys.readouterr()
    return code, out, err
