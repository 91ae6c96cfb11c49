"""Reflection files in and out (MTZ, SHELX HKLF 4, CIF _refln, XDS_ASCII) through iotbx.

Every reader returns merged, non-anomalous X-ray amplitudes with their crystal symmetry, plus what it
did to get there (columns used, whether intensities were converted by French-Wilson, merging), the merged
intensities when the file held intensities (so that writers write intensities, not F^2 of French-Wilson
amplitudes), which reflections are predicted rather than measured (xrdplug extend's PREDICTED flag) and
where the predictions came from. Every reader checks the claimed symmetry against the data: strong
"systematically absent" reflections and an index range the cell cannot explain are refused with figures.
"""

from __future__ import annotations

import io
import math
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import iotbx.cif
import iotbx.mtz
import iotbx.shelx
import numpy as np
from cctbx import crystal, miller, sgtbx, uctbx
from cctbx.array_family import flex
from iotbx.reflection_file_reader import any_reflection_file

from xrdplug.errors import UnreadableError, XrdplugError, reason

from .isolation import probe

PREDICTED_LABEL = "PREDICTED"  # MTZ column: 1 predicted by a model, 0 measured
CIF_PREDICTED = "_refln.xrdplug_predicted"  # the same flag in a CIF _refln loop
CIF_PROVENANCE = "_xrdplug_extension"  # CIF category of the provenance items (model, weights_sha256, ...)
HISTORY_PREFIX = "xrdplug "  # MTZ history lines "xrdplug key=value"
STRONG_ABSENT_SIGMA = 3.0  # an "absent" reflection with I/sigma(I) above this is a violation


@dataclass
class Amplitudes:
    f_obs: miller.array
    columns: list[str]
    measured: str  # "amplitudes" | "intensities"
    notes: list[str] = field(default_factory=list)
    i_obs: miller.array | None = None  # merged intensities as measured, when the file held intensities
    predicted: miller.array | None = None  # int flags on f_obs's indices (1 predicted), None: all measured
    provenance: dict[str, str] = field(default_factory=dict)  # of the predictions: model, weights_sha256...
    warnings: list[str] = field(default_factory=list)


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


def _i_over_sigma(array: miller.array) -> np.ndarray:
    """I/sigma(I) per reflection; for amplitudes F/(2 sigma F), the same figure to first order."""
    data = array.data().as_numpy_array()
    if array.sigmas() is None:
        return np.full(data.size, np.nan)
    sig = array.sigmas().as_numpy_array()
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = data / sig
    if array.is_xray_amplitude_array():
        ratio = ratio / 2.0
    return np.where(sig > 0, ratio, np.nan)


def check_absences(absent: miller.array, n_total: int, what: str, ignore: bool = False) -> list[str]:
    """Strong reflections where the claimed space group has none: a wrong group (say P21/c for P21/n data)
    sets aside real data and phases in the wrong symmetry. Refused when at least 3 and more than a tenth of
    the absent reflections have I/sigma(I) > 3 (multiple diffraction explains a few); otherwise a note."""
    if absent.size() == 0:
        return []
    ratio = _i_over_sigma(absent)
    strong = np.nan_to_num(ratio, nan=0.0) > STRONG_ABSENT_SIGMA
    n_strong = int(strong.sum())
    sg = str(absent.space_group_info())
    text = (f"{n_strong} of the {absent.size()} reflections that {sg} makes systematically absent have "
            f"I/sigma(I) > {STRONG_ABSENT_SIGMA:g}")
    if n_strong:
        text += f" (up to {np.nanmax(ratio):.0f} sigma)"
    if n_strong >= 3 and n_strong > 0.1 * absent.size():
        if not ignore:
            raise XrdplugError(
                f"{what}: {text}: the data do not have the symmetry of {sg}; give the right space group "
                "(--space-group or --ins), or --ignore-absences to read them anyway"
            )
        return [f"warning: {text}; read anyway (--ignore-absences): the space group looks wrong"]
    return [text + " (a few may be multiple diffraction)"] if n_strong else []


def check_cell_fits(array: miller.array, what: str, cell_from: str = "the cell given") -> None:
    """Refuse a cell the indices contradict (e.g. another crystal's .ins given with these data).

    Measured data fill a sphere in reciprocal space: along each axis the largest |index| reaches what the
    cell allows at the data's d_min. With a wrong cell some axis falls far short (thpp's data read with
    sucrose's cell reach 50% of the h and l the cell allows); refused below 70% on any axis. Applied only
    to a cell from outside the data file: an excerpt of a file with its own cell (iotbx's cu3182Isup2.hkl
    holds l <= 7 of 53) is data cut short, not a wrong cell.
    """
    if array.size() < 50:
        return
    p1 = array.expand_to_p1(phase_deg=None) if array.is_complex_array() else array.expand_to_p1()
    seen = np.abs(np.array(p1.indices(), dtype=np.int64)).max(axis=0)
    allowed = np.abs(np.array(array.unit_cell().max_miller_indices(array.d_min()), dtype=np.int64))
    if (allowed < 4).any():
        return
    frac = seen / allowed
    if frac.min() < 0.7:
        cell = ", ".join(f"{x:g}" for x in array.unit_cell().parameters())
        reach = ", ".join(f"{n} {s}/{m}" for n, s, m in zip("hkl", seen, allowed))
        raise XrdplugError(
            f"{what}: the indices do not fit the cell ({cell}): at the data's d_min {array.d_min():.2f} A the "
            f"cell allows |h|, |k|, |l| up to {', '.join(str(m) for m in allowed)} but the data reach {reach} "
            f"(an axis at {100 * frac.min():.0f}%): {cell_from} belongs to another crystal or setting"
        )


def _merged(array: miller.array, notes: list[str] | None) -> miller.array:
    """Friedel mates averaged, symmetry equivalents merged, in the asymmetric unit."""
    if array.anomalous_flag():
        array = array.average_bijvoet_mates()
        if notes is not None:
            notes.append("Friedel/Bijvoet mates averaged")
    if not array.is_unique_set_under_symmetry():
        n = array.size()
        merging = array.merge_equivalents()
        array = merging.array()
        if notes is not None:
            r_int = merging.r_int() if array.is_xray_intensity_array() else None
            rint = f", R_int {r_int:.3f}" if r_int is not None and math.isfinite(r_int) else ""
            notes.append(f"symmetry-equivalent observations merged ({n} -> {array.size()}{rint})")
    return array.map_to_asu()


def to_amplitudes(
    array: miller.array,
    what: str,
    intensities: miller.array | None = None,
    flags: miller.array | None = None,
    ignore_absences: bool = False,
    cell_from: str | None = None,
) -> Amplitudes:
    """Merge, drop anomalous pairs, check the symmetry, and turn intensities into amplitudes (French-Wilson).

    `array` is the file's amplitudes or intensities. `intensities`: the file's intensities when it holds
    amplitudes as well (kept as i_obs so that a writer writes them, never F^2). `flags`: xrdplug's
    PREDICTED column (1 predicted), carried onto the amplitudes' indices. `cell_from`: where the cell came
    from when not from the file itself (an .ins, --cell); then the indices are checked against it.
    """
    notes: list[str] = []
    labels = list(array.info().labels) if array.info() is not None else []
    _check_values(array, what)
    array = _merged(array, notes)
    absent = array.sys_absent_flags().data()
    absences = array.select(absent)
    notes += check_absences(absences, array.size(), what, ignore_absences)
    if absent.count(True):
        notes.append(f"{absent.count(True)} systematically absent reflections set aside")
        array = array.select(~absent)
    if array.size() == 0:
        raise XrdplugError(f"{what}: no reflections left once systematic absences are set aside")
    if cell_from is not None:
        check_cell_fits(array, what, cell_from)
    i_obs = None
    if array.is_xray_intensity_array():
        from cctbx import french_wilson

        if array.sigmas() is None:
            raise XrdplugError(f"{what}: intensities without sigmas; French-Wilson needs sigma(I)")
        i_obs = array
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
        if intensities is not None:
            try:
                _check_values(intensities, what)
                i_obs = _merged(intensities, None)
                i_obs = i_obs.select(~i_obs.sys_absent_flags().data())
            except XrdplugError:
                i_obs = None
            if i_obs is not None and i_obs.size():
                measured = "intensities"
                notes.append(f"amplitudes used as stored; the intensities ({', '.join(intensities.info().labels)}) "
                             "are kept for writing")
    array = array.set_observation_type_xray_amplitude()
    if array.sigmas() is not None:
        # iotbx reads F = SIGF = 0 back as "missing": treat it so from the start, so that conversions round-trip
        unmeasured = (array.data() == 0) & (array.sigmas() == 0)
        if unmeasured.count(True):
            notes.append(f"{unmeasured.count(True)} reflections with F = SIGF = 0 taken as unmeasured")
            array = array.select(~unmeasured)
            if array.size() == 0:
                raise XrdplugError(f"{what}: no measured reflections (all have F = SIGF = 0)")
    predicted = flags_on(array, flags) if flags is not None else None
    if predicted is not None and predicted.data().count(1) == 0:
        predicted = None
    return Amplitudes(array, labels, measured, notes, i_obs=i_obs, predicted=predicted)


def flags_on(f: miller.array, flags: miller.array) -> miller.array:
    """An int flag array on exactly f's indices and order (0 where `flags` has no entry)."""
    flags = flags.map_to_asu()
    matches = f.match_indices(flags)
    values = np.zeros(f.size(), dtype=np.int64)
    pairs = np.array(matches.pairs(), dtype=np.int64).reshape(-1, 2)
    src = np.array(flags.data(), dtype=np.float64)
    values[pairs[:, 0]] = np.rint(src[pairs[:, 1]]).astype(np.int64) != 0
    return f.customized_copy(data=flex.int(values.astype(np.int32).tolist()), sigmas=None).set_observation_type(None)


def _calculated(a: miller.array) -> bool:
    return any("calc" in lbl.lower() for lbl in (a.info().labels if a.info() else []))


def _best(group: list[miller.array]) -> miller.array | None:
    # prefer mean (non-anomalous) columns, then those with sigmas; never calculated ones (an .fcf's F_calc)
    group = sorted((a for a in group if not _calculated(a)), key=lambda a: (a.anomalous_flag(), a.sigmas() is None))
    return group[0] if group else None


def _pick(arrays: list[miller.array], what: str) -> miller.array:
    amp = _best([a for a in arrays if a.is_xray_amplitude_array()])
    if amp is not None:
        return amp
    ints = _best([a for a in arrays if a.is_xray_intensity_array()])
    if ints is not None:
        return ints
    labels = sorted({lbl for a in arrays for lbl in (a.info().labels if a.info() else [])})
    raise XrdplugError(f"{what}: no amplitude or intensity column (columns: {', '.join(labels) or 'none'})")


def _intensities_beside(arrays: list[miller.array], chosen: miller.array) -> miller.array | None:
    """The file's measured intensities when `chosen` is its amplitudes (an MTZ with F and I, a CIF with both)."""
    if not chosen.is_xray_amplitude_array():
        return None
    return _best([a for a in arrays if a.is_xray_intensity_array()])


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


def _parse_provenance(lines: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in lines:
        line = line.strip()
        if line.startswith(HISTORY_PREFIX) and "=" in line:
            key, _, value = line[len(HISTORY_PREFIX):].partition("=")
            out[key.strip()] = value.strip()
    return out


def provenance_lines(provenance: dict[str, Any]) -> list[str]:
    """MTZ history lines (80 characters at most each) for the provenance of predictions."""
    return [f"{HISTORY_PREFIX}{k}={v}"[:80] for k, v in provenance.items() if v is not None and str(v) != ""]


def read_mtz(path: Path, labels: str | None = None, ignore_absences: bool = False) -> Amplitudes:
    what = str(path)
    check_mtz_layout(path.read_bytes(), what)
    probe(lambda: iotbx.mtz.object(str(path)), what)
    try:
        mtz = iotbx.mtz.object(str(path))
    except Exception:
        raise UnreadableError(f"{what}: not a readable MTZ file (empty, truncated or another format)") from None
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
        intensities = None
    else:
        array = _pick(arrays, what)
        intensities = _intensities_beside(arrays, array)
    flags = next((a for a in arrays if a.info() and a.info().labels == [PREDICTED_LABEL]), None)
    _require_symmetry(array, what)
    amp = to_amplitudes(array, what, intensities=intensities, flags=flags, ignore_absences=ignore_absences)
    amp.provenance = _parse_provenance(list(mtz.history()))
    return amp


def read_hklf4(path: Path, symmetry: crystal.symmetry | None, ignore_absences: bool = False,
               cell_from: str = "the cell given") -> Amplitudes:
    what = str(path)
    if symmetry is None:
        raise XrdplugError(
            f"{what}: a SHELX .hkl file carries no cell or symmetry; put {path.stem}.ins beside it "
            "or give --ins FILE, or --cell and --space-group"
        )
    try:
        arrays = any_reflection_file(f"{path}=hklf4").as_miller_arrays(crystal_symmetry=symmetry)
    except Exception:
        raise UnreadableError(f"{what}: not a readable SHELX HKLF 4 file") from None
    if not arrays or arrays[0].size() == 0:
        raise UnreadableError(f"{what}: no reflections in HKLF 4 format")
    array = arrays[0]
    array.set_info(miller.array_info(labels=["Iobs", "SigIobs"], source=what))
    return to_amplitudes(array, what, ignore_absences=ignore_absences, cell_from=cell_from)


def read_xds_ascii(path: Path, symmetry: crystal.symmetry | None = None, ignore_absences: bool = False) -> Amplitudes:
    """XDS_ASCII.HKL (CORRECT or XSCALE): intensities with the cell and space-group number in the header,
    merged or not; Friedel mates are averaged and equivalents merged before French-Wilson."""
    from iotbx.xds.read_ascii import reader

    what = str(path)
    try:
        with open(path) as fh:
            xds = reader(fh)
        array = xds.as_miller_array(crystal_symmetry=symmetry, force_symmetry=symmetry is not None,
                                    merge_equivalents=False)
    except Exception as exc:
        raise UnreadableError(f"{what}: not a readable XDS_ASCII file ({reason(exc)})") from None
    if array.size() == 0:
        raise XrdplugError(f"{what}: no reflections in the XDS_ASCII file")
    array.set_info(miller.array_info(labels=["IOBS", "SIGMA(IOBS)"], source=what))
    amp = to_amplitudes(array, what, ignore_absences=ignore_absences,
                        cell_from="the cell given" if symmetry is not None else None)
    if xds.unmerged_data:
        amp.notes.insert(0, f"unmerged XDS_ASCII: {array.size()} observations")
    return amp


def _cif_provenance(reader: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    for block in reader.model().values():
        for key in block.keys():
            if key.lower().startswith(CIF_PROVENANCE + "."):
                out[key[len(CIF_PROVENANCE) + 1:]] = str(block[key]).strip("'\"")
    return out


def read_cif_refln(path: Path, symmetry: crystal.symmetry | None = None, ignore_absences: bool = False) -> Amplitudes:
    what = str(path)
    probe(lambda: iotbx.cif.reader(file_path=str(path), strict=False), what)
    try:
        reader = iotbx.cif.reader(file_path=str(path), strict=False)
    except Exception:
        raise UnreadableError(f"{what}: not a readable CIF file") from None
    if reader.error_count():
        raise UnreadableError(f"{what}: CIF syntax errors ({reader.error_count()}); not a readable CIF file")
    try:
        arrays = reader.as_miller_arrays(crystal_symmetry=symmetry)
    except Exception as exc:
        raise XrdplugError(f"{what}: cannot read its _refln loop ({reason(exc)})") from None
    if not arrays:
        raise XrdplugError(f"{what}: the CIF has no _refln loop with amplitudes or intensities")
    array = _pick(arrays, what)
    intensities = _intensities_beside(arrays, array)
    flags = next((a for a in arrays if a.info() and CIF_PREDICTED in a.info().labels), None)
    _require_symmetry(array, what)
    array.set_info(miller.array_info(labels=[lbl for lbl in array.info().labels if lbl.startswith("_")],
                                     source=what))
    if intensities is not None:
        intensities.set_info(miller.array_info(
            labels=[lbl for lbl in intensities.info().labels if lbl.startswith("_")], source=what))
    amp = to_amplitudes(array, what, intensities=intensities, flags=flags, ignore_absences=ignore_absences,
                        cell_from="the cell given" if symmetry is not None else None)
    amp.provenance = _cif_provenance(reader)
    return amp


# ---------------------------------------------------------------- writers


def _sigmas_or_ones(a: miller.array) -> miller.array:
    return a if a.sigmas() is not None else a.customized_copy(sigmas=flex.double(a.size(), 1.0))


def intensities_for(f_obs: miller.array, i_obs: miller.array | None) -> tuple[miller.array, int]:
    """Intensities on f_obs's reflections: the measured ones where the source had them, F^2 (sigma 2 F sigF)
    for the rest. Returns (intensities, how many are F^2)."""
    squared = _sigmas_or_ones(f_obs.f_as_f_sq())
    if i_obs is None:
        return squared, squared.size()
    i_obs = _sigmas_or_ones(i_obs.map_to_asu())
    common = i_obs.common_set(f_obs)
    rest = squared.lone_set(common)
    if rest.size() == 0:
        return common, 0
    return common.concatenate(rest), rest.size()


def write_mtz(
    f_obs: miller.array,
    path: Path,
    extra: dict[str, miller.array] | None = None,
    predicted: miller.array | None = None,
    i_obs: miller.array | None = None,
    provenance: dict[str, Any] | None = None,
) -> None:
    """F/SIGF, the measured I/SIGI when there are any, the PREDICTED flag (integer column) when anything is
    predicted, any extra arrays on the same indices, and the provenance of predictions as history lines."""
    ds = f_obs.as_mtz_dataset(column_root_label="F", wavelength=1.0)
    if i_obs is not None:
        ds.add_miller_array(_sigmas_or_ones(i_obs.map_to_asu()).common_set(f_obs), column_root_label="I")
    extra = dict(extra or {})
    if predicted is not None:
        extra[PREDICTED_LABEL] = predicted
    for label, arr in extra.items():
        col_type = "I" if isinstance(arr.data(), flex.int) else None
        ds.add_miller_array(arr, column_root_label=label, column_types=col_type)
    mtz = ds.mtz_object()
    if provenance:
        mtz.add_history(lines=flex.std_string(provenance_lines(provenance)))
    mtz.write(str(path))


def write_hklf4(f_obs: miller.array, path: Path, i_obs: miller.array | None = None) -> int:
    """HKLF 4 intensities: the measured ones where the source had intensities, else I = F^2, sigI = 2 F sigF;
    scaled down if they overflow the F8.2 format. Returns how many are F^2 of amplitudes."""
    intensities, n_squared = intensities_for(f_obs, i_obs)
    with open(path, "w") as fh:
        intensities.export_as_shelx_hklf(file_object=fh, normalise_if_format_overflow=True)
    return n_squared


def _symmetry_block(cs: crystal.symmetry) -> Any:
    """iotbx's symmetry items, with the cell at full precision (iotbx prints 3 decimals)."""
    block = cs.as_cif_block(format="mmcif")
    names = ("length_a", "length_b", "length_c", "angle_alpha", "angle_beta", "angle_gamma")
    for name, value in zip(names, cs.unit_cell().parameters()):
        block[f"_cell.{name}"] = _short(value)
    block["_cell.volume"] = _short(cs.unit_cell().volume())
    return block


def _short(x: float) -> str:
    """Full precision: the shortest text that reads back as the same number (as float32 for an MTZ's cell,
    whose float32 values would otherwise print as 6.920000076293945)."""
    x = float(x)
    text = str(np.float32(x)) if float(np.float32(x)) == x else repr(x)
    return text[:-2] if text.endswith(".0") else text


def write_cif_refln(
    f_obs: miller.array,
    path: Path,
    predicted: miller.array | None = None,
    i_obs: miller.array | None = None,
    provenance: dict[str, Any] | None = None,
    data_name: str = "xrdplug",
) -> None:
    """A CIF _refln loop: F_meas/F_sigma, the measured F_squared_meas/F_squared_sigma where the source had
    intensities, the PREDICTED flag as _refln.xrdplug_predicted (1 predicted) and the predictions'
    provenance as _xrdplug_extension.* items; the cell at full precision."""
    block = iotbx.cif.miller_arrays_as_cif_block(f_obs, array_type="meas", format="mmcif")
    if i_obs is not None:
        block.add_miller_array(_sigmas_or_ones(i_obs.map_to_asu()).common_set(f_obs), array_type="meas")
    if predicted is not None:
        block.add_miller_array(predicted, column_name=CIF_PREDICTED)
    cif_block = _symmetry_block(f_obs.crystal_symmetry())
    cif_block.add_loop(block.refln_loop)
    for key, value in (provenance or {}).items():
        if value is not None and str(value) != "":
            cif_block[f"{CIF_PROVENANCE}.{key}"] = str(value)
    model = iotbx.cif.model.cif()
    model[data_name] = cif_block
    with open(path, "w") as fh:
        fh.write(str(model))
