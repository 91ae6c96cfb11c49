"""Solve rates on a fixed set of benchmark cases: one folder per crystal structure.

A case folder holds the known structure (`structure.cif`, H atoms included), its observed data
(`data.mtz`: F, SIGF, to 0.8 A) and the molecule (`molecule.smi`); `cases.json` beside the folders may
describe them (space group, Z', non-H atoms, rotatable bonds). Every case is phased from its data cut to
each resolution asked for, by each phaser asked for, with what a user would give: the SMILES for
direct-space, the formula for charge flipping. A solve counts when at least 80 % of the non-H atoms lie
within 0.5 A of the known structure (emma, true space group, origin shifts and inversion allowed).

Results are appended to a JSON-lines file as they come, so a long benchmark can be interrupted and
resumed (cases already done are skipped).
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import XrdplugError


@dataclass
class Case:
    name: str
    folder: Path
    smiles: str
    meta: dict[str, Any] = field(default_factory=dict)


def load_cases(root: str | Path, limit: int | None = None) -> list[Case]:
    """The case folders under `root` (sorted by name), with `cases.json` metadata where present."""
    root = Path(root)
    if not root.is_dir():
        raise XrdplugError(f"{root}: no such folder of benchmark cases")
    meta: dict[str, dict[str, Any]] = {}
    index = root / "cases.json"
    if index.exists():
        raw = json.loads(index.read_text())
        items = raw if isinstance(raw, list) else raw.get("cases", [])
        meta = {str(m.get("id", m.get("folder", m.get("name", "")))): m for m in items}
    cases = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        if not (folder / "structure.cif").exists():
            continue
        smi = folder / "molecule.smi"
        smiles = smi.read_text().split()[0] if smi.exists() else ""
        cases.append(Case(folder.name, folder, smiles, meta.get(folder.name, {})))
    if not cases:
        raise XrdplugError(f"{root}: no case folders (each needs structure.cif, data.mtz, molecule.smi)")
    return cases[:limit] if limit else cases


def case_data(case: Case) -> Any:
    """The observed amplitudes of a case: data.mtz, or |F_calc| of the structure when there is none."""
    mtz = case.folder / "data.mtz"
    if mtz.exists():
        from .sources import read_reflections

        return read_reflections(mtz).f_obs
    from cctbx_bridge.structures import amplitudes, read_structure

    return amplitudes(read_structure(case.folder / "structure.cif"), 0.8)


def run_case(case: Case, phaser: str, d_min: float, seed: int, options: dict[str, Any]) -> dict[str, Any]:
    """Phase one case at one resolution; a record of what happened (errors included, never raised)."""
    from cctbx_bridge.structures import formula, non_hydrogen, read_structure

    from .solving import run_one

    ref = read_structure(case.folder / "structure.cif")
    f = case_data(case)
    if d_min > f.d_min() + 1e-6:
        f = f.resolution_filter(d_min=d_min)
    opts = dict(options)
    opts.setdefault("seed", seed)
    if phaser == "direct-space":
        opts.setdefault("smiles", case.smiles)
    else:
        opts.setdefault("formula", formula(non_hydrogen(ref)).replace(" ", ""))
    t_cpu, t_wall = time.process_time(), time.perf_counter()
    run = run_one(case.name, f, non_hydrogen(ref), phaser=phaser, **opts)
    cpu, wall = time.process_time() - t_cpu, time.perf_counter() - t_wall
    fig = run.result.figures if run.result is not None else {}
    keep = ("verdict", "confident", "cost", "second_cost", "found_by", "starts", "r1", "correlation", "z_prime",
            "phase_transition", "n_torsions")
    return {
        "case": case.name,
        "phaser": phaser,
        "d_min": d_min,
        "n_reflections": int(f.size()),
        "solved": bool(run.solved),
        "fraction": run.match.fraction if run.match else 0.0,
        "rms": run.match.rms if run.match else None,
        "cpu_s": round(cpu, 2),
        "wall_s": round(wall, 2),
        "error": run.error,
        "space_group": case.meta.get("space_group", str(ref.space_group_info())),
        "n_heavy": case.meta.get("n_heavy"),
        "n_rotatable": case.meta.get("n_rotatable", fig.get("n_torsions")),
        "z_prime": case.meta.get("z_prime", fig.get("z_prime")),
        **{f"fig_{k}": fig.get(k) for k in keep if k in fig},
    }


def run_benchmark(
    cases: list[Case],
    phasers: list[str],
    resolutions: list[float],
    results: Path | None = None,
    seed: int = 0,
    options: dict[str, dict[str, Any]] | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[dict[str, Any]]:
    """Every (case, phaser, resolution) once; records appended to `results` (JSON lines) as they finish."""
    done: dict[tuple[str, str, float], dict[str, Any]] = {}
    if results is not None and results.exists():
        for line in results.read_text().splitlines():
            if line.strip():
                r = json.loads(line)
                done[(r["case"], r["phaser"], float(r["d_min"]))] = r
    out = []
    for k, case in enumerate(cases):
        for phaser in phasers:
            for d in resolutions:
                key = (case.name, phaser, float(d))
                if key in done:
                    out.append(done[key])
                    continue
                rec = run_case(case, phaser, d, seed + k, (options or {}).get(phaser, {}))
                out.append(rec)
                if results is not None:
                    with results.open("a") as fh:
                        fh.write(json.dumps(rec) + "\n")
                if progress is not None:
                    progress(f"{case.name} {phaser} {d:g} A: {'solved' if rec['solved'] else 'not solved'}")
    return out


def rotatable_class(n: Any) -> str:
    if n is None:
        return "?"
    n = int(n)
    return "0" if n == 0 else ("1-3" if n <= 3 else ("4-8" if n <= 8 else ">8"))


@dataclass
class Row:
    group: str
    n: int
    solved: int
    median_cpu: float
    p90_cpu: float
    errors: int

    @property
    def rate(self) -> float:
        return self.solved / self.n if self.n else 0.0


def summarise(records: Iterable[dict[str, Any]], key: Callable[[dict[str, Any]], str]) -> list[Row]:
    """Solve rate and CPU time per group of records."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        groups.setdefault(key(r), []).append(r)
    rows = []
    for g, rs in sorted(groups.items()):
        cpu = sorted(r["cpu_s"] for r in rs)
        p90 = cpu[min(len(cpu) - 1, int(round(0.9 * (len(cpu) - 1))))]
        rows.append(Row(g, len(rs), sum(r["solved"] for r in rs), statistics.median(cpu), p90,
                        sum(1 for r in rs if r.get("error"))))
    return rows
