"""What to search for: the molecule, how many sit in the asymmetric unit, and the setups to try.

Z' (molecules per asymmetric unit) is read from the cell volume against the molecule's Hofmann volume (the
sum of per-element atomic volumes, H included: an organic crystal's volume per molecule is that within about
10 %). The older rule of 18 A^3 per non-H atom ignores H and put octane's asymmetric unit (Z' = 1/2 in
P-1) at 0.70 of a whole molecule, inside the Z' = 1 range; by Hofmann volume it is 0.50. The boundary
between 1/2 and 1 lies at 0.71, the geometric mean. Z' = 1 is searched with position, orientation and torsions free;
Z' = 1/2 places a centrosymmetric molecule on each distinct inversion centre of the group (orientation
and torsions free), and, where the group has 2-fold axes or mirror planes, searches the whole molecule
with starts on those elements, allowed to coincide with its own symmetry mate (a molecule on a 2-fold or
mirror; the copies are merged afterwards). Z' = 2 (two copies of the molecule, found one after the other:
see `pair`) is chosen up to 2.6 molecules' room; more, and molecules too big for the cell, are refused
with the figures.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from xrdplug.errors import XrdplugError
from xrdplug.molcrystal import hofmann_volume
from xrdplug.molecule import HalfMolecule, Molecule, half_molecule

ROOM_LIMITS = (0.71, 1.55)  # asymmetric-unit volume / Hofmann volume of one molecule, for Z' = 1
ROOM_LIMIT_TWO = 2.6  # ... and up to this for Z' = 2 (above: solvent, or Z' >= 3, refused)
MAX_TORSIONS = 12


@dataclass
class Setup:
    """One searchable arrangement: the molecule modelled (whole; half on an inversion centre; whole on a 2-fold or mirror)."""

    label: str
    molecule: Molecule  # the atoms the search moves
    anchor: np.ndarray | None  # fractional inversion centre for Z' = 1/2
    half: HalfMolecule | None
    z_prime: float
    special_sites: list[tuple[np.ndarray, np.ndarray]] | None = None  # 2-fold axes / mirrors (Z' = 1/2)


def room(cell_volume: float, order_z: int, molecule: Molecule) -> float:
    """Asymmetric-unit volume per Hofmann volume of the molecule: ~1 for Z' = 1, ~0.5 for Z' = 1/2."""
    return cell_volume / order_z / hofmann_volume(list(molecule.elements))


def choose_z_prime(ratio: float, molecule: Molecule, has_inversion_centres: bool, requested: str = "auto",
                   has_twofold_sites: bool = False) -> float:
    """Z' from the room the cell gives (see the module docstring), or the user's choice, checked."""
    figures = (f"the asymmetric unit holds {ratio * hofmann_volume(list(molecule.elements)):.0f} A^3, {ratio:.2f} x "
               "the molecule's Hofmann volume")
    req = str(requested).strip().lower()
    if req in ("1/2", "0.5"):
        z = 0.5
    elif req in ("1", "1.0"):
        z = 1.0
    elif req in ("2", "2.0"):
        z = 2.0
    elif req == "auto":
        if ratio < 0.35:
            raise XrdplugError(f"the molecule is too large for the cell: {figures}; wrong molecule or cell?")
        if ratio < ROOM_LIMITS[0]:
            on_centre = molecule.inversion_partner is not None and has_inversion_centres
            if not on_centre and not has_twofold_sites:
                raise XrdplugError(
                    f"the molecule is too large for the cell: {figures} (one molecule needs at least "
                    f"{ROOM_LIMITS[0]:.2f} x; half of one is not possible here: the group has no 2-fold "
                    "axis or mirror plane, and the molecule cannot sit on an inversion centre)"
                )
            z = 0.5
        elif ratio <= ROOM_LIMITS[1]:
            z = 1.0
        elif ratio <= ROOM_LIMIT_TWO:
            z = 2.0
        else:
            raise XrdplugError(
                f"{figures}: room for about {ratio:.1f} molecules (solvent, or Z' >= 3). Z' = 1/2, 1 and 2 are "
                "searched; pass --z-prime 1 or 2 to search for that many molecules anyway"
            )
    else:
        raise XrdplugError(f"--z-prime takes 1, 1/2, 2 or auto (got {requested!r})")
    if z == 0.5 and not has_twofold_sites:
        if molecule.inversion_partner is None:
            raise XrdplugError(
                f"{figures}: that is room for half a molecule (Z' = 1/2), but this molecule cannot sit on an "
                "inversion centre (no centrosymmetric form) and the group has no 2-fold axis or mirror "
                "plane; check the cell, the space group and the molecule"
            )
        if not has_inversion_centres:
            raise XrdplugError(f"{figures}: room for half a molecule, but the space group has no inversion "
                               "centre, 2-fold axis or mirror plane")
    if z == 1.0 and ratio < 0.5:
        raise XrdplugError(f"the molecule is too large for the cell: {figures}")
    return z


def setups(molecule: Molecule, z_prime: float, inversion_centres: list[tuple[float, float, float]],
           twofold_sites: list[tuple[str, np.ndarray, np.ndarray]] | None = None) -> list[Setup]:
    """The arrangements to search for a Z' (each with at most MAX_TORSIONS free torsions: on an inversion
    centre, the half molecule's)."""
    if z_prime == 1.0:
        out = [Setup("Z'=1", molecule, None, None, 1.0)]
    elif z_prime == 2.0:
        out = [Setup("Z'=2", molecule, None, None, 2.0)]
    else:
        out = []
        if molecule.inversion_partner is not None and inversion_centres:
            half = half_molecule(molecule, molecule.inversion_partner)
            out = [
                Setup(f"Z'=1/2 on -1 at ({c[0]:g},{c[1]:g},{c[2]:g})", half.half, np.array(c), half, 0.5)
                for c in inversion_centres
            ]
        if twofold_sites:
            label = "Z'=1/2 on " + ", ".join(lbl for lbl, _, _ in twofold_sites)
            out.append(Setup(label, molecule, None, None, 0.5, [(r, t) for _, r, t in twofold_sites]))
        assert out, "choose_z_prime admits Z' = 1/2 only where a setup exists"
    searchable = [st for st in out if len(st.molecule.torsions) <= MAX_TORSIONS]
    if not searchable:
        n = min(len(st.molecule.torsions) for st in out)
        raise XrdplugError(
            f"the molecule has {n} rotatable bonds to search; at most {MAX_TORSIONS} are searched "
            "(give a more rigid model, e.g. a ring-closed or fragment SMILES)"
        )
    return searchable


def check_formula(formula: dict[str, float], molecule: Molecule, z_prime: float) -> None:
    """The --formula (asymmetric unit) must be the molecule's (times Z'); H counts may be omitted."""
    mol_counts: dict[str, float] = {}
    for e in molecule.elements:
        mol_counts[e] = mol_counts.get(e, 0.0) + z_prime
    want = {k: v for k, v in formula.items() if k not in ("H", "D")}
    have = {k: v for k, v in mol_counts.items() if k not in ("H", "D")}
    scale = None
    for k in set(want) | set(have):
        a, b = want.get(k, 0.0), have.get(k, 0.0)
        if a == 0 or b == 0:
            scale = None if a != b else scale
            if a != b:
                break
            continue
        r = a / b
        if scale is None:
            scale = r
        elif abs(r - scale) > 1e-6:
            scale = None
            break
    else:
        if scale is not None and abs(scale - round(scale)) < 1e-6 and round(scale) >= 1:
            return
    show = "".join(f"{k}{v:g}" for k, v in sorted(have.items()))
    raise XrdplugError(
        f"--formula does not match the molecule: the molecule has {show} (non-H, Z' = {z_prime:g}); "
        "give the formula of the molecule, or leave --formula out"
    )
