"""Reflection files in and out (MTZ, SHELX HKLF 4, CIF _refln) through iotbx.

Every reader returns merged, non-anomalous X-ray amplitudes with their crystal symmetry, plus what it
did to get there (columns used, whether intensities were converted by French-Wilson, merging).
"""

from __future__ import annotations

import io
import math
import struct
from dataclasses import dataclass, field
from pathlib import Path

import iotbx.cif
import iotbx.mtz
import iotbx.shelx
from cctbx import crystal, miller, sgtbx, uctbx
from cctbx.array_family import flex
from iotbx.reflection_file_reader import any_reflection_file

from xrdplug.errors import XrdplugError, reason

from .isolation import probe


@dataclass
class Amplitudes:
    f_obs: miller.array
    columns: list[str]
    measured: str  # "amplitudes" | "intensities"
    notes: list[str] = field(default_factory=list)


# ---------------------------------------------------------------- symmetry


def symmetry_from_options(
    cell: str | tuple[float, ...] | None = None,
    space_group: str | None = None,
    ins: str | Path | None = None,
) -> crystal.symmetry | None:
    """Crystal symmetry from a SHELX .ins/.res file or from a cell string and space-group symbol."""
    if ins is not None:
        p = Path(ins)
        if not p.is_file():
            raise XrdplugError(f"{p}: no such file (needed for the cell and symmetry)")
        try:
            cs = iotbx.shelx.crystal_symmetry_from_ins.extract_from(str(p))
        except Exception as exc:
            raise XrdplugError(f"{p}: cannot read CELL/LATT/SYMM from it ({reason(exc)})") from None
        if cs is None or cs.unit_cell() is None or cs.space_group_info() is None:
            raise XrdplugError(f"{p}: holds no CELL and symmetry")
        return cs
    if cell is None and space_group is None:
        return None
    if cell is None or space_group is None:
        raise XrdplugError("give both --cell 'a b c alpha beta gamma' and --space-group SYMBOL")
    try:
        params = tuple(float(x) for x in cell.replace(",", " ").split()) if isinstance(cell, str) else cell
        uc = uctbx.unit_cell(params)
        sgi = sgtbx.space_group_info(symbol=space_group)
        cs = crystal.symmetry(unit_cell=uc, space_group_info=sgi)
    except Exception as exc:
        raise XrdplugError(f"bad cell or space group ({cell!r}, {space_group!r}): {exc}") from None
    if not cs.is_compatible_unit_cell():
        raise XrdplugError(f"the cell {cell} is not compatible with space group {space_group}")
    return cs


def sibling_ins(path: Path) -> Path | None:
    """name.ins or name.res next to name.hkl, as SHELX keeps them."""
    for suffix in (".ins", ".res", ".INS", ".RES"):
        cand = path.with_suffix(suffix)
        if cand.is_file():
            return cand
    return None


# ---------------------------------------------------------------- to amplitudes


def _check_values(array: miller.array, what: str) -> None:
    data = array.data().as_numpy_array()
    if data.size == 0:
        raise XrdplugError(f"{what}: no reflections")
    if not all(math.isfinite(x) for x in data[: data.size]):
        raise XrdplugError(f"{what}: contains NaN or infinite values")
    if array.sigmas() is not None:
        sig = array.sigmas().as_numpy_array()
        if not all(math.isfinite(x) for x in sig):
            raise XrdplugError(f"{what}: contains NaN or infinite sigmas")
    if array.is_xray_amplitude_array() and (data < 0).any():
        raise XrdplugError(f"{what}: {int((data < 0).sum())} negative amplitudes; amplitudes must be >= 0")


def to_amplitudes(array: miller.array, what: str) -> Amplitudes:
    """Merge, drop anomalous pairs, and turn intensities into amplitudes with French-Wilson."""
    notes: list[str] = []
    labels = list(array.info().labels) if array.info() is not None else []
    _check_values(array, what)
    if array.anomalous_flag():
        array = array.average_bijvoet_mates()
        notes.append("Friedel/Bijvoet mates averaged")
    if not array.is_unique_set_under_symmetry():
        n = array.size()
        array = array.merge_equivalents().array()
        notes.append(f"symmetry-equivalent observations merged ({n} -> {array.size()})")
    array = array.map_to_asu()
    absent = array.sys_absent_flags().data()
    if absent.count(True):
        notes.append(f"{absent.count(True)} systematically absent reflections set aside")
        array = array.select(~absent)
    if array.size() == 0:
        raise XrdplugError(f"{what}: no reflections left once systematic absences are set aside")
    if array.is_xray_intensity_array():
        from cctbx import french_wilson

        if array.sigmas() is None:
            raise XrdplugError(f"{what}: intensities without sigmas; French-Wilson needs sigma(I)")
        n = array.size()
        try:
            array = french_wilson.french_wilson_scale(miller_array=array, log=io.StringIO())
        except Exception as exc:
            raise XrdplugError(f"{what}: French-Wilson cannot convert these intensities ({reason(exc)})") from None
        notes.append(
            f"intensities converted to amplitudes with French-Wilson ({array.size()} of {n} kept)"
        )
        measured = "intensities"
    else:
        measured = "amplitudes"
    array = array.set_observation_type_xray_amplitude()
    if array.sigmas() is not None:
        # iotbx reads F = SIGF = 0 back as "missing": treat it so from the start, so that conversions round-trip
        unmeasured = (array.data() == 0) & (array.sigmas() == 0)
        if unmeasured.count(True):
            notes.append(f"{unmeasured.count(True)} reflections with F = SIGF = 0 taken as unmeasured")
            array = array.select(~unmeasured)
            if array.size() == 0:
                raise XrdplugError(f"{what}: no measured reflections (all have F = SIGF = 0)")
    return Amplitudes(array, labels, measured, notes)


def _pick(arrays: list[miller.array], what: str) -> miller.array:
    amps = [a for a in arrays if a.is_xray_amplitude_array()]
    ints = [a for a in arrays if a.is_xray_intensity_array()]
    # prefer mean (non-anomalous) columns, then those with sigmas
    for group in (amps, ints):
        group.sort(key=lambda a: (a.anomalous_flag(), a.sigmas() is None))
        if group:
            return group[0]
    labels = sorted({lbl for a in arrays for lbl in (a.info().labels if a.info() else [])})
    raise XrdplugError(f"{what}: no amplitude or intensity column (columns: {', '.join(labels) or 'none'})")


def _require_symmetry(array: miller.array, what: str) -> None:
    cs = array.crystal_symmetry()
    if cs is None or cs.unit_cell() is None or cs.space_group_info() is None:
        raise XrdplugError(f"{what}: no cell or space group; give them (see --help)")


# ---------------------------------------------------------------- readers


def check_mtz_layout(raw: bytes, what: str) -> None:
    """Check the MTZ layout before CCP4's reader sees it: cmtz can loop forever on a damaged header.

    An MTZ file is 'MTZ ', the header's word offset, a machine stamp, ncol*nref float32 values from
    byte 80, then 80-character header records from 'VERS' to 'END'.
    """
    bad = f"{what}: not a readable MTZ file (empty, truncated or damaged)"
    if len(raw) < 80 + 80 or raw[:4] != b"MTZ ":
        raise XrdplugError(bad)
    for order in ("<", ">"):
        (hdr,) = struct.unpack(order + "i", raw[4:8])
        start = (hdr - 1) * 4
        if 80 <= start < len(raw) - 80 and raw[start : start + 4] == b"VERS":
            break
    else:
        raise XrdplugError(bad)
    records = [raw[i : i + 80] for i in range(start, len(raw) - 79, 80)]
    names = [r[:4] for r in records]
    if b"END " not in names:
        raise XrdplugError(bad)
    end = names.index(b"END ")
    ncol_rec = [r for r in records[:end] if r.startswith(b"NCOL")]
    if not ncol_rec or any(not r[:1].isalpha() for r in records[:end]):
        raise XrdplugError(bad)
    try:
        ncol, nref = (int(x) for x in ncol_rec[0].split()[1:3])
    except ValueError:
        raise XrdplugError(bad) from None
    if ncol <= 0 or nref < 0 or (hdr - 21) != ncol * nref:
        raise XrdplugError(bad)


def read_mtz(path: Path, labels: str | None = None) -> Amplitudes:
    what = str(path)
    check_mtz_layout(path.read_bytes(), what)
    probe(lambda: iotbx.mtz.object(str(path)), what)
    try:
        mtz = iotbx.mtz.object(str(path))
    except Exception:
        raise XrdplugError(f"{what}: not a readable MTZ file (empty, truncated or another format)") from None
    if mtz.n_batches() > 0:
        raise XrdplugError(
            f"{what}: unmerged MTZ ({mtz.n_batches()} batches); merge and scale it first (e.g. with aimless)"
        )
    if mtz.n_reflections() == 0:
        raise XrdplugError(f"{what}: the MTZ holds no reflections")
    try:
        arrays = mtz.as_miller_arrays()
    except Exception as exc:
        raise XrdplugError(f"{what}: cannot read its columns ({reason(exc)})") from None
    if labels:
        wanted = [a for a in arrays if a.info() and labels in (",".join(a.info().labels), a.info().labels[0])]
        if not wanted:
            raise XrdplugError(f"{what}: no column group {labels!r}")
        array = _pick(wanted, what)
    else:
        array = _pick(arrays, what)
    _require_symmetry(array, what)
    return to_amplitudes(array, what)


def read_hklf4(path: Path, symmetry: crystal.symmetry | None) -> Amplitudes:
    what = str(path)
    if symmetry is None:
        raise XrdplugError(
            f"{what}: a SHELX .hkl file carries no cell or symmetry; put {path.stem}.ins beside it "
            "or give --ins FILE, or --cell and --space-group"
        )
    try:
        arrays = any_reflection_file(f"{path}=hklf4").as_miller_arrays(crystal_symmetry=symmetry)
    except Exception:
        raise XrdplugError(f"{what}: not a readable SHELX HKLF 4 file") from None
    if not arrays or arrays[0].size() == 0:
        raise XrdplugError(f"{what}: no reflections in HKLF 4 format")
    array = arrays[0]
    array.set_info(miller.array_info(labels=["Iobs", "SigIobs"], source=what))
    return to_amplitudes(array, what)


def read_cif_refln(path: Path, symmetry: crystal.symmetry | None = None) -> Amplitudes:
    what = str(path)
    probe(lambda: iotbx.cif.reader(file_path=str(path), strict=False), what)
    try:
        reader = iotbx.cif.reader(file_path=str(path), strict=False)
    except Exception:
        raise XrdplugError(f"{what}: not a readable CIF file") from None
    if reader.error_count():
        raise XrdplugError(f"{what}: CIF syntax errors ({reader.error_count()}); not a readable CIF file")
    try:
        arrays = reader.as_miller_arrays(crystal_symmetry=symmetry)
    except Exception as exc:
        raise XrdplugError(f"{what}: cannot read its _refln loop ({reason(exc)})") from None
    if not arrays:
        raise XrdplugError(f"{what}: the CIF has no _refln loop with amplitudes or intensities")
    array = _pick(arrays, what)
    _require_symmetry(array, what)
    array.set_info(miller.array_info(labels=[lbl for lbl in array.info().labels if lbl.startswith("_")],
                                     source=what))
    return to_amplitudes(array, what)


# ---------------------------------------------------------------- writers


def write_mtz(f_obs: miller.array, path: Path, extra: dict[str, miller.array] | None = None) -> None:
    """F/SIGF (and any extra arrays on the same indices, e.g. an integer flag) as an MTZ."""
    ds = f_obs.as_mtz_dataset(column_root_label="F", wavelength=1.0)
    for label, arr in (extra or {}).items():
        col_type = "I" if isinstance(arr.data(), flex.int) else None
        ds.add_miller_array(arr, column_root_label=label, column_types=col_type)
    ds.mtz_object().write(str(path))


def write_hklf4(f_obs: miller.array, path: Path) -> None:
    """HKLF 4 intensities (I = F^2, sigI = 2 F sigF); scaled down if they overflow the F8.2 format."""
    i_obs = f_obs.f_as_f_sq()
    if i_obs.sigmas() is None:
        i_obs = i_obs.customized_copy(sigmas=flex.double(i_obs.size(), 1.0))
    with open(path, "w") as fh:
        i_obs.export_as_shelx_hklf(file_object=fh, normalise_if_format_overflow=True)


def write_cif_refln(f_obs: miller.array, path: Path) -> None:
    with open(path, "w") as fh:
        f_obs.as_cif_simple(array_type="meas", out=fh)
