"""The one place that imports RDKit: molecules from SMILES or files, conformers, rotatable bonds.

Importing this package first makes RDKit and cctbx safe to load in one process in either order (see
`xrdplug.runtime`). What leaves this package is plain data (`xrdplug.molecule.Molecule`), never an RDKit
object, so the rest of xrdplug needs no RDKit.
"""

from __future__ import annotations

from xrdplug.runtime import preload_cctbx_runtime

preload_cctbx_runtime()
