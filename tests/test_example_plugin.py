"""The example model package of docs/plugins.md, pip-installed as a user would install it (into a folder on
PYTHONPATH, so the test environment is left as it was) and taken through every step of the guide:
listed, trained and shipped with its own weights, extend, evaluate, solve."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "xrdplug-tinynet"


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict[str, object]:
    root = tmp_path_factory.mktemp("tinynet")
    shutil.copytree(EXAMPLE, root / "pkg", ignore=shutil.ignore_patterns("*.pt", "*.json", "README.md"))
    # without build isolation when this environment has setuptools (Python 3.11 venvs do; 3.12+ ones may not,
    # and then pip fetches it as for any install)
    isolation = [] if importlib.util.find_spec("setuptools") is None else ["--no-build-isolation"]
    r = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", *isolation,
                        "--target", str(root / "site"), str(root / "pkg")], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    return {"root": root, "site": root / "site",
            "env": {"PYTHONPATH": str(root / "site"), "COLUMNS": "250", "OMP_NUM_THREADS": "1"}}


def test_example_plugin_end_to_end(installed, cli, thpp, tmp_path):
    env, site = installed["env"], installed["site"]
    weights = site / "xrdplug_tinynet" / "weights"
    listing = cli("plugins", env=env)
    assert any("tinynet" in ln and "xrdplug-tinynet" in ln and "weights missing" in ln
               for ln in listing.stdout.splitlines()), listing.stdout
    assert "broken plugin" not in listing.stdout and "name clash" not in listing.stdout

    data = tmp_path / "data"
    r = cli("simulate", "--kind", "random", "--n", "16", "--out", data, "--split", "50/25/25", "--atoms", "10-12",
            "--seed", "3", env=env)
    assert r.returncode == 0, r.stderr
    # train the recipe the plugin gives and ship the weights into the plugin's own folder
    r = cli("train-shipped", "--model", "tinynet", "--data", data, "--minutes", "0.05", "--work", tmp_path / "work",
            "--ship", "--device", "cpu", env=env)
    assert r.returncode == 0, r.stderr
    assert (weights / "tinynet.pt").is_file() and (weights / "README.md").is_file()
    record = json.loads((weights / "tinynet.json").read_text())
    assert record["model"] == "tinynet" and record["hparams"]["width"] == 8  # the recipe's size, not the default
    assert {"model", "wilson"} <= set(record["test"]) and record["calibration"]["structures"] > 0

    out = tmp_path / "thpp_ext.mtz"
    r = cli("extend", thpp["hkl"], "--ins", thpp["ins"], "--cut", "1.5", "--model", "tinynet", "-o", out, env=env)
    assert r.returncode == 0, r.stderr
    said = " ".join(r.stdout.split())
    assert "tinynet (tinynet.pt" in said and "302 measured" in said and "PREDICTED" in said
    assert "calibration" in said  # its predicted SIGF come from its own calibration, as the built-ins' do

    r = cli("evaluate", "--model", "tinynet", "--data", data, "--baseline-samples", "4", env=env)
    assert r.returncode == 0, r.stderr
    assert "tinynet" in r.stdout and "wilson" in r.stdout

    r = cli("solve", out, "--reference", thpp["cif"], "--attempts", "2", "--seed", "1", "-o", tmp_path / "s.res",
            env=env)
    assert r.returncode == 0, r.stderr
    said = " ".join(r.stdout.split())
    assert "PREDICTED" in said and "matched" in said and (tmp_path / "s.res").is_file()
