"""Crystal structures: read CIF / SHELX .res/.ins, write .res and CIF, and compute |F| to a resolution.

Everything here works on a `cctbx.xray.structure` (sites, ADPs and crystal symmetry). Public functions:

- `read_structure(path)`   CIF (the first data block with atoms, or a named one) or SHELX .res/.ins
- `amplitudes(structure, d_min)`  |F_calc| of the structure out to `d_min` as an amplitude miller.array
- `write_res(structure, path)`  a SHELX .res file (readable by SHELX, Olex2 and `read_structure`)
- `write_cif(structure, path)`  a small-molecule CIF with cell, symmetry and the atom-site loop
- `non_hydrogen(structure)`, `formula(structure)`, `test_data_path(name)` helpers

Errors a user can cause (missing file, unreadable file, no atoms) raise `XrdplugError` with one line.
Writers write atomically (a temporary file renamed into place) and never over an input.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

from cctbx import crystal, miller, xray  # noqa: F401  (crystal re-exported for callers' type hints)
from cctbx.array_family import flex

from xrdplug.errors import XrdplugError
from xrdplug.files import atomic_output, check_input

PathLike = str | os.PathLike[str]

STRUCTURE_SUFFIXES = (".cif", ".res", ".ins")


def test_data_path(name: str) -> Path:
    """A file in cctbx-base's smtbx/regression/test_data (thpp.hkl/.ins/.cif, sucrose_p1.res)."""
    import smtbx

    path = Path(smtbx.__file__).parent / "regression" / "test_data" / name
    if not path.exists():
        raise XrdplugError(f"{name}: not found in the installed cctbx-base ({path.parent})")
    return path


def read_structure(path: PathLike, data_block: str | None = None) -> xray.structure:
    """Read a crystal structure from a CIF (atom-site loop) or a SHELX .res/.ins file.

    For a CIF with several data blocks, the named `data_block` or else the first block holding atoms is used.
    """
    p = check_input(path)
    suffix = p.suffix.lower()
    try:
        if suffix == ".cif":
            xs = _read_cif(p, data_block)
        elif suffix in (".res", ".ins"):
            xs = xray.structure.from_shelx(filename=str(p), strictly_shelxl=False)
        else:
            raise XrdplugError(f"{p}: unknown structure format '{p.suffix}' (expected .cif, .res or .ins)")
    except XrdplugError:
        raise
    except Exception as exc:
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise XrdplugError(f"{p}: could not read a structure ({msg})") from None
    if xs is None or xs.scatterers().size() == 0:
        raise XrdplugError(f"{p}: no atoms found")
    return xs


def _read_cif(p: Path, data_block: str | None) -> xray.structure:
    found = xray.structure.from_cif(file_path=str(p))
    if data_block is not None:
        if data_block not in found:
            raise XrdplugError(f"{p}: no data block '{data_block}' (blocks: {', '.join(found)})")
        return found[data_block]
    for xs in found.values():
        if xs.scatterers().size():
            return xs
    raise XrdplugError(f"{p}: no atoms found")


def non_hydrogen(structure: xray.structure) -> xray.structure:
    """The structure without H and D atoms."""
    types = structure.scattering_types()
    keep = (types != "H") & (types != "D")
    return structure.select(keep)


def formula(structure: xray.structure, per_unit_cell: bool = False) -> str:
    """Hill-order formula of the asymmetric unit (or the unit cell), e.g. 'C10 H12 N2 O'."""
    if per_unit_cell:
        counts = structure.unit_cell_content()
    else:
        counts = {}
        for sc in structure.scatterers():
            counts[sc.scattering_type] = counts.get(sc.scattering_type, 0.0) + sc.occupancy
    keys = sorted(counts)
    if "C" in counts:
        keys = ["C"] + (["H"] if "H" in counts else []) + [k for k in keys if k not in ("C", "H")]
    parts = []
    for k in keys:
        n = counts[k]
        n_txt = "" if abs(n - 1) < 1e-6 else (f"{n:.0f}" if abs(n - round(n)) < 1e-3 else f"{n:.2f}")
        parts.append(f"{k}{n_txt}")
    return " ".join(parts)


def amplitudes(
    structure: xray.structure,
    d_min: float,
    d_max: float | None = None,
    anomalous: bool = False,
    algorithm: str = "direct",
) -> miller.array:
    """|F_calc| of `structure` for the asymmetric unit of reflections with d >= d_min (amplitudes, no sigmas).

    Systematic absences are excluded; F(000) is not included. `algorithm` is "direct" (exact) or "fft".
    """
    if d_min <= 0:
        raise XrdplugError(f"d_min must be positive (got {d_min})")
    ms = miller.build_set(crystal_symmetry=structure, anomalous_flag=anomalous, d_min=d_min, d_max=d_max)
    ms = ms.remove_systematic_absences()
    f_calc = ms.structure_factors_from_scatterers(xray_structure=structure, algorithm=algorithm).f_calc()
    f = f_calc.amplitudes()
    f.set_observation_type_xray_amplitude()
    return f


def res_text(structure: xray.structure, title: str = "xrdplug", wavelength: float = 0.71073) -> str:
    """A SHELX .res file for `structure` as text (TITL, CELL, ZERR, LATT/SYMM, SFAC, UNIT, atoms, END)."""
    from iotbx.shelx.write_ins import LATT_SYMM

    sg = structure.space_group()
    out = io.StringIO()
    print(f"TITL {title}", file=out)
    print(
        "CELL %.5f %.4f %.4f %.4f %.3f %.3f %.3f" % ((wavelength,) + structure.unit_cell().parameters()),
        file=out,
    )
    print(f"ZERR {sg.order_z()} 0.0 0.0 0.0 0.0 0.0 0.0", file=out)
    try:
        LATT_SYMM(out, sg)
    except RuntimeError as exc:
        raise XrdplugError(
            f"cannot write space group {structure.space_group_info()} as SHELX LATT/SYMM: {exc}"
        ) from None
    types: list[str] = []
    for sc in structure.scatterers():
        if sc.scattering_type not in types:
            types.append(sc.scattering_type)
    if not types:
        raise XrdplugError("the structure has no atoms to write")
    content = structure.unit_cell_content()
    print("SFAC " + " ".join(t.capitalize() for t in types), file=out)
    print("UNIT " + " ".join(f"{max(content.get(t, 0.0), 0.0):.0f}" for t in types), file=out)
    print("L.S. 4", file=out)
    print("FVAR 1.00000", file=out)
    labels = _shelx_labels(structure)
    uc = structure.unit_cell()
    for label, sc in zip(labels, structure.scatterers(), strict=True):
        sfac = types.index(sc.scattering_type) + 1
        occ = 10.0 + sc.weight()
        x, y, z = sc.site
        head = f"{label:<5s} {sfac:d} {x:10.6f} {y:10.6f} {z:10.6f} {occ:11.5f}"
        if sc.flags.use_u_aniso() and sc.u_star != (-1, -1, -1, -1, -1, -1):
            from cctbx import adptbx

            u11, u22, u33, u12, u13, u23 = adptbx.u_star_as_u_cif(uc, sc.u_star)
            print(f"{head} {u11:9.5f} {u22:9.5f} =", file=out)
            print(f"    {u33:9.5f} {u23:9.5f} {u13:9.5f} {u12:9.5f}", file=out)
        else:
            print(f"{head} {sc.u_iso_or_equiv(uc):9.5f}", file=out)
    print("HKLF 4", file=out)
    print("END", file=out)
    return out.getvalue()


def _shelx_labels(structure: xray.structure) -> list[str]:
    """Unique SHELX labels of at most 4 characters, starting with the element symbol."""
    used: set[str] = set()
    labels: list[str] = []
    counters: dict[str, int] = {}
    for sc in structure.scatterers():
        lbl = "".join(ch for ch in sc.label if ch.isalnum())[:4].upper()
        el = sc.scattering_type.capitalize()
        if not lbl or not lbl.startswith(el.upper()) or lbl in used:
            while True:
                counters[el] = counters.get(el, 0) + 1
                lbl = f"{el}{counters[el]}"[:4].upper()
                if lbl not in used:
                    break
        used.add(lbl)
        labels.append(lbl)
    return labels


def write_res(
    structure: xray.structure,
    path: PathLike,
    title: str = "xrdplug",
    wavelength: float = 0.71073,
    inputs: tuple[PathLike, ...] = (),
) -> Path:
    """Write `structure` as a SHELX .res file, atomically (never over one of `inputs`). Returns the path."""
    text = res_text(structure, title=title, wavelength=wavelength)
    with atomic_output(path, inputs) as tmp:
        tmp.write_text(text)
    return Path(path)


def cif_text(structure: xray.structure, data_name: str = "xrdplug") -> str:
    """`structure` as a small-molecule (coreCIF) data block, as text."""
    out = io.StringIO()
    xs = structure.deep_copy_scatterers()
    labels = _shelx_labels(xs)
    for lbl, sc in zip(labels, xs.scatterers(), strict=True):
        if not sc.label:
            sc.label = lbl
    xs.as_cif_simple(out=out, data_name=data_name, format="coreCIF")
    return out.getvalue()


def write_cif(
    structure: xray.structure, path: PathLike, data_name: str = "xrdplug", inputs: tuple[PathLike, ...] = ()
) -> Path:
    """Write `structure` as a CIF (cell, symmetry operators, atom sites), atomically. Returns the path."""
    text = cif_text(structure, data_name=data_name)
    with atomic_output(path, inputs) as tmp:
        tmp.write_text(text)
    return Path(path)


def random_structure(
    space_group: str = "P 1 21/c 1",
    elements: tuple[str, ...] | list[str] | None = None,
    n_atoms: int = 20,
    volume_per_atom: float = 18.0,
    seed: int | None = None,
    u_iso_range: tuple[float, float] = (0.01, 0.04),
    unit_cell: tuple[float, ...] | None = None,
) -> xray.structure:
    """A random structure (cctbx.development.random_structure) of C/N/O atoms, isotropic ADPs.

    With `seed` the result is reproducible (it seeds Python's and flex's random generators).
    """
    import random

    from cctbx import sgtbx
    from cctbx.development import random_structure as rs

    if seed is not None:
        random.seed(seed)
        flex.set_random_seed(seed)
    if elements is None:
        pool = ["C"] * 6 + ["N"] * 2 + ["O"] * 2
        elements = [random.choice(pool) for _ in range(n_atoms)]
    xs = rs.xray_structure(
        space_group_info=sgtbx.space_group_info(space_group),
        elements=list(elements),
        volume_per_atom=volume_per_atom,
        min_distance=1.2,
        general_positions_only=True,
        use_u_iso=True,
        u_iso=0.02,
        unit_cell=None if unit_cell is None else __import__("cctbx.uctbx", fromlist=["x"]).unit_cell(unit_cell),
    )
    lo, hi = u_iso_range
    for sc in xs.scatterers():
        sc.u_iso = random.uniform(lo, hi)
    return xs


def b_unique_monoclinic(structure: xray.structure, keep_hydrogens: bool = True) -> tuple[xray.structure | None, str]:
    """The structure in a b-unique monoclinic setting (disorder kept: |F| uses the occupancies), or
    (None, reason). For scoring models on real structures; H atoms kept unless asked."""
    from cctbx_bridge.simulate import is_b_unique_monoclinic

    if structure.scatterers().size() == 0:
        return None, "no atoms"
    sgi = structure.space_group_info()
    if sgi.group().crystal_system() != "Monoclinic":
        return None, f"non-monoclinic space group {sgi}"
    if not is_b_unique_monoclinic(sgi):
        structure = structure.change_basis(sgi.change_of_basis_op_to_reference_setting())
        if not is_b_unique_monoclinic(structure.space_group_info()):
            return None, f"monoclinic group {sgi} could not be put in a b-unique setting"
    if not keep_hydrogens:
        types = structure.scattering_types()
        structure = structure.select((types != "H") & (types != "D"))
    return structure, ""
