"""One name, one meaning across commands (README "Options: one name, one meaning")."""

from __future__ import annotations

import re

import pytest
from conftest import run_main


def _help(command: list[str], capsys) -> str:
    code, out, err = run_main([*command, "--help"], capsys)
    assert code == 0, err
    return " ".join(out.replace("│", " ").split())


@pytest.mark.parametrize("command", [["extend"], ["solve"], ["evaluate"], ["train"], ["train-shipped"]])
def test_device_defaults_to_auto_everywhere(command, capsys):
    text = _help(command, capsys)
    assert re.search(r"--device .*?\[default: auto\]", text), text


def test_the_cut_has_one_name(capsys):
    for command in (["extend"], ["solve"], ["demo"]):
        text = _help(command, capsys)
        assert "--cut" in text and "--truncate" not in text and "--d-low" not in text


def test_model_lists_are_repeated_options(capsys, tmp_path):
    text = _help(["bench", "solve"], capsys)
    assert "--model -m" in text and "--models" not in text
    for args in (["-m", "none"], ["--models", "none"]):  # the old comma form still works, hidden
        code, out, err = run_main(["bench", "solve", "--n", "1", "--atoms", "8", *args], capsys)
        assert code == 0, err
        assert "1.5 A as given" in out and "+ unet" not in out


def test_workers_means_processes_that_build_data(capsys):
    assert "--workers" in _help(["simulate"], capsys)
    train = _help(["train"], capsys)
    assert "--loader-workers" in train and "--workers" not in train.replace("--loader-workers", "")


def test_evaluate_takes_threads(capsys, tmp_path):
    assert "--threads" in _help(["evaluate"], capsys)
    code, _, err = run_main(["evaluate", "-m", "unet", "--data", tmp_path, "--threads", "0"], capsys)
    assert code != 0 and "--threads must be at least 1" in err


def test_overwrite_is_the_one_flag(capsys):
    for command in (["convert"], ["extend"], ["solve"], ["evaluate"], ["bench", "solve"], ["train"]):
        text = _help(command, capsys)
        assert "--overwrite" in text and "--force" not in text


def test_simulate_from_cif_without_a_usable_structure_fails(tmp_path, capsys):
    src = tmp_path / "cifs"
    src.mkdir()
    (src / "junk.cif").write_text("this is not a CIF\n")
    code, out, err = run_main(["simulate", "--from-cif", src, "--out", tmp_path / "ds", "--no-progress"], capsys)
    assert code != 0
    assert err.strip().startswith("xrdplug: error:") and len(err.strip().splitlines()) == 1
    assert "no usable structure" in err and "1 unreadable CIF" in err
