"""The README's Python snippet runs as printed, in a fresh interpreter (shipped transformer weights)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def _snippet() -> str:
    text = README.read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert blocks, "README has no python block"
    (snippet,) = [b for b in blocks if "xrdplug.extend(" in b]
    return snippet


def test_readme_snippet_runs(tmp_path: Path, thpp_15):
    from xrdplug.sources import write_reflections

    write_reflections(thpp_15, tmp_path / "data.mtz")
    res = subprocess.run([sys.executable, "-c", _snippet()], cwd=tmp_path, capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    lines = res.stdout.splitlines()
    assert lines[0] == "302 measured + 1708 predicted"
    assert "sha256" in lines[1]
    assert lines[2].split()[0] == "1708"


def test_readme_gives_clone_cd_and_venv_before_the_commands_ci_runs():
    text = README.read_text()
    block = re.search(r"## Install and test.*?```bash\n(.*?)```", text, flags=re.S).group(1)
    steps = [line.split("#")[0].strip() for line in block.splitlines() if line.strip()]
    assert steps[0].startswith("git clone ") and steps[1].startswith("cd ")
    assert "venv" in steps[2] and "activate" in steps[2]
    assert steps[3:] == ['python -m pip install "torch==2.13.0" -e ".[test]"', "python -m pytest",
                         "ruff check . && mypy"]
    ci = (README.parent / ".ci" / "run").read_text()
    assert all(step in ci for step in steps[3:])  # CI runs the same commands
