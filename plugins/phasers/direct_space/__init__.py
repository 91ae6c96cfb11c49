"""The `direct-space` phaser: solve 1.5-2 A data from the molecule the user knows (SMILES or a file).

As powder programs do (DASH, FOX, TOPAS), a model of the molecule — RDKit geometry, bond lengths and
angles fixed, torsions free — is placed, turned and flexed in the cell until its calculated intensities
agree with the measured ones; then every non-H atom is refined with geometry restraints. Single-crystal
data to 1.5-2 A carry far more information than a powder pattern, so one molecule in the asymmetric unit
(Z' = 1), or a molecule on an inversion centre, 2-fold axis or mirror plane (Z' = 1/2), is found in seconds
to minutes; two molecules (Z' = 2) are searched one after the other (see `pair`).

Options (`xrdplug solve --phaser direct-space ...` or `xrdplug.solve(f, phaser="direct-space", ...)`):
smiles | molecule (a .mol/.sdf/.mol2/.pdb/.xyz file), formula (checked against the molecule), seed,
budget (seconds of search, default 120), z_prime ('auto', '1/2', '1', '2'), starts (per round), keep_geometry
(use the file's geometry as is), progress (a callable(fraction, message)).
"""

from __future__ import annotations

import time
from typing import Any

from xrdplug import hookimpl
from xrdplug.errors import XrdplugError
from xrdplug.protocols import PhasingResult

OPTIONS = {"smiles", "molecule", "formula", "seed", "budget", "z_prime", "starts", "keep_geometry", "progress",
           "max_stereoisomers"}


class DirectSpacePhaser:
    name = "direct-space"
    description = "direct-space search from a known molecule (SMILES or file; RDKit geometry, torsions free)"
    needs_atomic_resolution = False  # solves 1.5-2 A data as measured: `solve --model auto` does not extend

    def available(self) -> tuple[bool, str]:
        import importlib.util

        missing = [m for m in ("rdkit", "torch") if importlib.util.find_spec(m) is None]
        if missing:  # found, not imported: importing RDKit here, before cctbx, would be the wrong order
            return False, f"needs {' and '.join(missing)} (pip install {' '.join(missing)})"
        return True, "built in; needs the molecule: --smiles or --molecule"

    def solve(self, f_obs: Any, **options: Any) -> PhasingResult:
        unknown = sorted(k for k, v in options.items() if k not in OPTIONS and v is not None)
        known_elsewhere = {"timeout", "n_atoms", "max_attempts", "max_iterations", "normalise"}
        unknown = [k for k in unknown if k not in known_elsewhere]
        if unknown:
            raise XrdplugError(f"direct-space: unknown option(s) {', '.join(unknown)} (it takes {', '.join(sorted(OPTIONS))})")
        from .run import solve_direct_space

        t0 = time.perf_counter()
        structure, figures, log = solve_direct_space(f_obs, **{k: v for k, v in options.items() if k in OPTIONS})
        return PhasingResult(structure=structure, phaser=self.name, seconds=time.perf_counter() - t0,
                             figures=figures, log=log)


@hookimpl
def xrdplug_register_phasers() -> list[object]:
    return [DirectSpacePhaser()]
