"""Usage errors through the installed `xrdplug` script: Typer's usage message and exit code 2, no traceback.

typer 0.29 vendors click and no longer installs it; an `import click` anywhere in the CLI's error path
turned every usage error into ModuleNotFoundError.
"""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(
    "args, needle",
    [
        ([], "Usage: xrdplug"),
        (["extend", "{hkl}", "--modle", "unet"], "No such option: --modle"),
        (["exend"], "No such command 'exend'"),
        (["demo", "--d-min", "abc"], "Invalid value for '--d-min'"),
        (["extend"], "Missing argument"),
        (["solve", "{hkl}", "--seed", "x"], "Invalid value for '--seed'"),
        (["bench", "nosuch"], "No such command 'nosuch'"),
    ],
)
def test_usage_errors_give_usage_and_exit_2(script, thpp, args, needle):
    res = script(*[a.replace("{hkl}", str(thpp["hkl"])) for a in args])
    text = res.stdout + res.stderr
    assert res.returncode == 2, text
    assert "Traceback" not in text and "ModuleNotFoundError" not in text, text
    assert needle in " ".join(text.replace("│", " ").split()), text
    assert "Usage:" in text


def test_our_errors_still_one_line(script, tmp_path):
    res = script("info", tmp_path / "missing.mtz")
    assert res.returncode == 2
    assert res.stderr.strip().splitlines() == [f"xrdplug: error: {tmp_path / 'missing.mtz'}: no such file"]


def test_help_exits_0(script):
    res = script("extend", "--help")
    assert res.returncode == 0 and "--model" in res.stdout
