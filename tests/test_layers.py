"""The house's layering: nothing imports upward, nobody imports another package's private names
(tools/import_layers.py has the layers; it also runs as a pre-commit hook)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_no_upward_or_private_imports():
    res = subprocess.run([sys.executable, str(ROOT / "tools" / "import_layers.py")], capture_output=True, text=True,
                         timeout=60)
    assert res.returncode == 0, res.stdout


def test_plugin_api_names_resolve_and_listing_plugins_loads_no_numpy():
    code = ("import sys, xrdplug.plugin_api as api\n"
            "from xrdplug.plugin_manager import registry\n"
            "registry()\n"
            "print('numpy' in sys.modules)\n"
            "missing = [n for n in api.__all__ if getattr(api, n, None) is None]\n"
            "print(missing, api.IN_CHANNELS)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split("\n")[:2] == ["False", "[] 7"]
