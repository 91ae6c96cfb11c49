"""Synthetic data sets of `xrdplug simulate`: read one sample as a miller.array.

`path` is a data set folder (sample = row of its index.npz) or one shard file shard-NNNNN.npz (sample =
position in the shard); choose the sample with the `sample` option (default 0). The amplitudes are the
stored |F| (float16 precision) to the data set's d_high; pass `d_min` to cut them (e.g. 1.5 for the
"measured" part).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from xrdplug.plugin_api import ReflectionData, XrdplugError, hookimpl


class SyntheticSource:
    name = "synthetic"
    suffixes = (".npz",)
    description = "samples of an `xrdplug simulate` data set (folder or shard .npz)"
    can_write = False

    def read(self, path: Path, sample: int = 0, d_min: float | None = None, **_: Any) -> ReflectionData:
        from xrdplug.data import shards

        p = Path(path)
        if p.is_dir():
            raw = shards.load_sample(p, int(sample))
            what = f"sample {int(sample)} of the data set"
        else:
            a = shards.read_shard(p)
            n = a["offsets"].size - 1
            if not 0 <= int(sample) < n:
                raise XrdplugError(f"{p}: no sample {sample} (the shard holds {n})")
            raw = shards.sample_from_shard(a, int(sample))
            what = f"sample {int(sample)} of the shard"
        from cctbx_bridge.simulate import sample_to_miller

        f = sample_to_miller(raw)
        notes = [f"{what}: {raw['structure_id']}, {raw['n_atoms']} atoms in the asymmetric unit"]
        if d_min is not None:
            f = f.resolution_filter(d_min=float(d_min))
            notes.append(f"cut at d_min {d_min} A")
        return ReflectionData(f, self.name, ["F (calculated)"], "amplitudes", notes, p)  # type: ignore[arg-type]

    def write(self, f_obs: Any, path: Path, **_: Any) -> None:
        raise XrdplugError("the synthetic source is read-only; make data sets with `xrdplug simulate`")


@hookimpl
def xrdplug_register_sources() -> list[object]:
    return [SyntheticSource()]
