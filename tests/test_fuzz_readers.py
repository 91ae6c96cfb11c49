"""Fuzz the readers and converters: random bytes and mutated real files under every supported suffix.

Whatever the bytes, each built-in source's own reader must either succeed or raise XrdplugError (one
clear line), never anything else and never hang; what it read must convert and read back. The readers
are called directly, below `read_reflections`'s safety net for third-party plugins, so an unexpected
exception type fails the test. `FUZZ_EXAMPLES` scales the effort (default 150 per
test); each test checks that it fed its reader and prints the counts (run with -s to see them).
"""

from __future__ import annotations

import os
import tempfile
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xrdplug.errors import XrdplugError
from xrdplug.sources import read_reflections, source_for, write_reflections

N = int(os.environ.get("FUZZ_EXAMPLES", "150"))
SETTINGS = settings(max_examples=N, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
OUTCOMES: Counter[str] = Counter()
SUFFIXES = [".mtz", ".hkl", ".cif"]


def _seed_files(smtbx_data: Path, iotbx_data: Path) -> dict[str, bytes]:
    hkl_lines = (smtbx_data / "thpp.hkl").read_bytes().splitlines(keepends=True)[:400]
    return {
        ".mtz": (iotbx_data / "phaser_1.mtz").read_bytes(),
        ".hkl": b"".join(hkl_lines),
        ".cif": _small_cif(smtbx_data),
    }


def _small_cif(smtbx_data: Path) -> bytes:
    f = read_reflections(smtbx_data / "thpp.hkl").f_obs.resolution_filter(d_min=2.0)
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "s.cif"
        write_reflections(f, out)
        return out.read_bytes()


def _read_one(raw: bytes, suffix: str, ins: Path) -> None:
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / f"fuzz{suffix}"
        p.write_bytes(raw)
        opts = {"ins": ins} if suffix == ".hkl" else {}
        try:
            data = source_for(p).read(p, **opts)
        except XrdplugError as exc:
            assert str(exc).strip() and "\n" not in str(exc).strip()
            OUTCOMES[f"{suffix} refused"] += 1
            return
        OUTCOMES[f"{suffix} read"] += 1
        # what reads must also convert and read back with the same indices
        for out_suffix in (".mtz", ".cif"):
            out = Path(d) / f"back{out_suffix}"
            write_reflections(data.f_obs, out)
            back = read_reflections(out).f_obs
            assert back.size() == data.f_obs.size()


@pytest.fixture(scope="module")
def seeds(smtbx_data, iotbx_data):
    return _seed_files(smtbx_data, iotbx_data)


def _fuzz(suffix: str, run) -> None:
    """Run one fuzzing test and check that it fed the reader inputs (its own count, not another test's)."""
    before = OUTCOMES[f"{suffix} read"] + OUTCOMES[f"{suffix} refused"]
    run()
    done = OUTCOMES[f"{suffix} read"] + OUTCOMES[f"{suffix} refused"] - before
    print(f"\nfuzzed {done} {suffix} inputs: " + ", ".join(f"{k}: {v}" for k, v in sorted(OUTCOMES.items())))
    assert done >= min(N, 10)


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_random_bytes(suffix, thpp):
    @SETTINGS
    @given(raw=st.binary(max_size=4096))
    def run(raw):
        _read_one(raw, suffix, thpp["ins"])

    _fuzz(suffix, run)


@st.composite
def mutations(draw, base: bytes):
    data = bytearray(base)
    kind = draw(st.sampled_from(["flip", "truncate", "splice", "zero"]))
    if kind == "truncate":
        return bytes(data[: draw(st.integers(0, len(data)))])
    n = draw(st.integers(1, 16))
    for _ in range(n):
        i = draw(st.integers(0, len(data) - 1))
        if kind == "flip":
            data[i] = draw(st.integers(0, 255))
        elif kind == "zero":
            data[i] = 0
        else:
            j = draw(st.integers(i, min(len(data), i + 64)))
            data[i:j] = draw(st.binary(max_size=64))
    return bytes(data)


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_mutated_real_files(suffix, seeds, thpp):
    @SETTINGS
    @given(raw=mutations(seeds[suffix]))
    def run(raw):
        _read_one(raw, suffix, thpp["ins"])

    _fuzz(suffix, run)
