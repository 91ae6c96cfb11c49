"""cctbx and torch in one process, in both orders, from fresh interpreters."""

from __future__ import annotations

import subprocess
import sys

import pytest

WORK = (
    "from cctbx.development import random_structure; from cctbx import sgtbx; "
    "xs = random_structure.xray_structure(sgtbx.space_group_info('P21/c'), elements=['C']*6); "
    "n = xs.structure_factors(d_min=1.5).f_calc().size(); "
    "import torch; t = torch.ones(3, 3) @ torch.ones(3, 3); print('ok', n, int(t.sum()), torch.get_num_threads())"
)


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(
    "prelude",
    [
        "import xrdplug; import torch; import cctbx.xray",
        "import xrdplug; import cctbx.xray; import torch",
        "import xrdplug, cctbx_bridge; import torch",
        "import cctbx_bridge; import torch",
    ],
)
def test_both_orders_work_after_import_xrdplug(prelude: str) -> None:
    res = _run(prelude + "; " + WORK)
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.startswith("ok ")


def test_torch_keeps_its_threads_when_xrdplug_comes_first() -> None:
    res = _run("import os; import xrdplug, torch, cctbx.xray; print(torch.get_num_threads())")
    assert res.returncode == 0, res.stderr
    import os

    assert int(res.stdout.strip()) == min(torch_threads_expected(), os.cpu_count() or 1)


def torch_threads_expected() -> int:
    res = _run("import torch; print(torch.get_num_threads())")
    return int(res.stdout.strip())


def test_torch_first_gives_a_clear_message_not_a_segfault() -> None:
    res = _run("import torch\nimport xrdplug\nimport cctbx_bridge")
    assert res.returncode == 1  # a Python exception, not signal 11 (-11)
    assert "torch was imported before cctbx" in res.stderr
    assert "LD_PRELOAD" in res.stderr


def test_torch_first_is_fine_with_the_preload_variable() -> None:
    from xrdplug.runtime import worker_env

    env = worker_env()
    res = subprocess.run([sys.executable, "-c", "import torch; import xrdplug; import cctbx_bridge; " + WORK],
                         capture_output=True, text=True, timeout=120, env=env)
    assert res.returncode == 0, res.stderr[-2000:]


RDKIT_WORK = (
    "from rdkit import Chem; from rdkit.Chem import AllChem, rdDetermineBonds; "
    "m = Chem.MolFromXYZBlock('3\\nw\\nO 0 0 0\\nH 0.96 0 0\\nH -0.24 0.93 0\\n'); "
    "rdDetermineBonds.DetermineBonds(m, charge=0); "
    "e = Chem.AddHs(Chem.MolFromSmiles('CCO')); AllChem.EmbedMolecule(e, randomSeed=1); "
    "from cctbx import xray; import iotbx.shelx; "
    "print('ok', m.GetNumBonds(), e.GetNumConformers())"
)


@pytest.mark.parametrize(
    "prelude",
    [
        "import xrdplug; import rdkit",
        "import xrdplug; import rdkit.Chem; import cctbx.xray",
        "import xrdplug; from rdkit import RDLogger; import cctbx.xray; import iotbx.cif",
        "import xrdplug; import cctbx.xray; import rdkit",
        "import xrdplug; import torch; import rdkit.Chem; import cctbx_bridge",
        "import xrdplug; import rdkit_bridge.molecules; import cctbx_bridge.structures",
    ],
)
def test_rdkit_and_cctbx_work_in_every_order_after_import_xrdplug(prelude: str) -> None:
    """Loading and calling RDKit, before or after cctbx (boost.python registries meet: xrdplug.runtime)."""
    res = _run(prelude + "; " + RDKIT_WORK)
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.strip() == "ok 2 1"


@pytest.mark.parametrize("first", ["torch", "rdkit", "scipy.optimize", "matplotlib.pyplot"])
def test_readme_snippet_with_a_library_imported_first_fails_clearly(first: str) -> None:
    """Issue 11: `import torch; import xrdplug; from iotbx.reflection_file_reader import any_reflection_file`
    died with signal 11 and no message. It must raise an ImportError that names the fix."""
    res = _run(f"import {first}\nimport xrdplug\nfrom iotbx.reflection_file_reader import any_reflection_file\n")
    assert res.returncode == 1, (res.returncode, res.stderr[-2000:])  # not -11 (segfault)
    assert "ImportError" in res.stderr
    assert "was imported before cctbx" in res.stderr and "import xrdplug" in res.stderr
    assert "LD_PRELOAD" in res.stderr
