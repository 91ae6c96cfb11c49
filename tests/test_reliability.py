"""Every command, given bad input, prints one clear line, exits non-zero and writes nothing half-done.

Commands run in-process through `xrdplug.cli.main` (the same code path as the console script) so the
whole matrix stays fast; tests/test_cli_io.py covers the same path in fresh processes.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from conftest import run_main

SUFFIXES = (".mtz", ".hkl", ".cif")

def assert_clean_failure(code: int, err: str, pattern: str | None = None) -> str:
    assert code != 0
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("xrdplug: error:"), err
    assert "internal error" not in lines[0], lines[0]
    if pattern:
        assert re.search(pattern, lines[0]), lines[0]
    return lines[0]


def _listing(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory, thpp, iotbx_data) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("bad")
    real = {".mtz": (iotbx_data / "phaser_1.mtz").read_bytes(), ".hkl": thpp["hkl"].read_bytes(),
            ".cif": thpp["cif"].read_bytes()}
    files = {}
    for suffix in SUFFIXES:
        files[f"missing{suffix}"] = d / f"missing{suffix}"
        (d / f"empty{suffix}").write_bytes(b"")
        files[f"empty{suffix}"] = d / f"empty{suffix}"
        (d / f"random{suffix}").write_bytes(os.urandom(3000))
        files[f"random{suffix}"] = d / f"random{suffix}"
        (d / f"truncated{suffix}").write_bytes(real[suffix][: len(real[suffix]) // 3])
        files[f"truncated{suffix}"] = d / f"truncated{suffix}"
    return files


COMMANDS = {
    "info": lambda f, out: ["info", f],
    "convert": lambda f, out: ["convert", f, out / "o.mtz"],
    "extend": lambda f, out: ["extend", f, "--model", "unet", "-o", out / "o.mtz"],
    "solve": lambda f, out: ["solve", f, "--model", "none", "-o", out / "o.res"],
}
KINDS = ("missing", "empty", "random", "truncated")


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("suffix", SUFFIXES)
def test_bad_files_under_every_suffix(command, kind, suffix, bad_files, tmp_path, capsys, thpp):
    f = bad_files[f"{kind}{suffix}"]
    args = COMMANDS[command](f, tmp_path)
    if suffix == ".hkl" and kind == "truncated":
        args += ["--ins", str(thpp["ins"])]  # a cut HKLF 4 file is still readable: then it must succeed or fail cleanly
    before = _listing(tmp_path)
    code, out, err = run_main(args, capsys)
    if code == 0:
        assert kind == "truncated"  # a cut text file can hold fewer, valid reflections
        return
    assert_clean_failure(code, err)
    assert _listing(tmp_path) == before


@pytest.fixture(scope="module")
def thpp_variants(tmp_path_factory, thpp) -> dict[str, Path]:
    """Real data made unsuitable for the models in one way each."""
    from cctbx import crystal

    from xrdplug.sources import read_reflections, write_reflections

    d = tmp_path_factory.mktemp("variants")
    f = read_reflections(thpp["hkl"]).f_obs
    f15 = f.resolution_filter(d_min=1.5)
    out = {}
    variants = {
        "thpp15": f15,
        "p1": f15.expand_to_p1(),
        "low_res": f.resolution_filter(d_min=2.2),
        "big_cell": f15.customized_copy(
            crystal_symmetry=crystal.symmetry((19.0, 14.57, 9.72, 90, 90.6, 90), space_group_info=f.space_group_info())
        ),
    }
    for name, arr in variants.items():
        out[name] = d / f"{name}.mtz"
        write_reflections(arr, out[name])
    out["corrupt_ckpt"] = d / "corrupt.pt"
    out["corrupt_ckpt"].write_bytes(os.urandom(2048))
    out["not_a_ckpt"] = d / "dict.pt"
    import torch

    torch.save({"hello": 1}, out["not_a_ckpt"])
    from xrdplug.models.checkpoint import save_checkpoint
    from xrdplug.plugin_manager import registry

    hp = {"filters": [4, 8, 16], "in_channels": 4}
    out["unet_ckpt"] = d / "tiny_unet.pt"
    save_checkpoint(out["unet_ckpt"], registry().get("model", "unet").build(**hp), "unet", hp)
    return out


@pytest.mark.parametrize(
    "variant, extra, pattern",
    [
        ("p1", [], "not monoclinic"),
        ("low_res", [], "reach only 2.2"),
        ("big_cell", [], "too large for the model grid"),
        ("thpp15", ["--checkpoint", "{corrupt_ckpt}"], "not a readable xrdplug checkpoint"),
        ("thpp15", ["--checkpoint", "{not_a_ckpt}"], "not an xrdplug checkpoint"),
        ("thpp15", ["--model", "fft-unet", "--checkpoint", "{unet_ckpt}"], "holds a 'unet' model"),
        ("thpp15", ["--model", "no-such-model"], "no model plugin named"),
        ("thpp15", ["--d-min", "0.5"], "beyond what the models predict"),
        ("thpp15", ["-o", "{tmp}/missing/dir/out.mtz"], "does not exist"),
        ("thpp15", ["-o", "{input}"], "refusing to write over the input"),
    ],
)
def test_extend_refuses_what_the_models_do_not_cover(variant, extra, pattern, thpp_variants, tmp_path, capsys):
    src = thpp_variants[variant]
    subst = {"{tmp}": str(tmp_path), "{input}": str(src), **{f"{{{k}}}": str(v) for k, v in thpp_variants.items()}}
    args = ["extend", src, "--model", "unet", "--checkpoint", thpp_variants["unet_ckpt"], "-o", tmp_path / "o.mtz"]
    args += [_sub(a, subst) for a in extra]
    before_input = src.stat().st_mtime_ns
    code, out, err = run_main(args, capsys)
    assert_clean_failure(code, err, pattern)
    assert not (tmp_path / "o.mtz").exists()
    assert src.stat().st_mtime_ns == before_input


def _sub(arg: str, subst: dict[str, str]) -> str:
    for k, v in subst.items():
        arg = arg.replace(k, v)
    return arg


def test_unmerged_data_is_refused_by_every_reading_command(iotbx_data, tmp_path, capsys):
    unmerged = iotbx_data / "insulin_unmerged_cutted_from_ccp4.mtz"
    for args in (["info", unmerged], ["convert", unmerged, tmp_path / "o.cif"],
                 ["extend", unmerged, "-o", tmp_path / "o.mtz"], ["solve", unmerged, "-o", tmp_path / "o.res"]):
        code, out, err = run_main(args, capsys)
        assert_clean_failure(code, err, "unmerged")
    assert not list(tmp_path.iterdir())


def test_simulate_and_train_bad_arguments(tmp_path, capsys):
    (tmp_path / "afile").write_text("x")
    cases = [
        (["simulate", "--n", "4", "--out", tmp_path / "afile"], None),
        (["simulate", "--n", "4", "--out", tmp_path / "s", "--space-groups", "P212121"], "monoclinic"),
        (["train", "--model", "unet", "--data", tmp_path / "nothing", "--out", tmp_path / "m.pt"], None),
        (["evaluate", "--model", "unet", "--checkpoint", tmp_path / "afile", "--data", tmp_path / "nothing"], None),
    ]
    for args, pattern in cases:
        code, out, err = run_main(args, capsys)
        assert_clean_failure(code, err, pattern)
    assert not (tmp_path / "m.pt").exists()
