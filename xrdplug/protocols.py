"""What a plugin object must offer, as typed Protocols. cctbx/torch types are named, never imported."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from cctbx import miller, xray


@dataclass
class ReflectionData:
    """A reflection file read into the common currency: merged amplitudes with their symmetry.

    `predicted` flags (1) the reflections a model predicted rather than measured (None: all measured) and
    `provenance` says where they came from (model, weights file and its sha256); every writer either
    stores both or refuses. `i_obs` keeps the merged intensities when the file held intensities, so that
    writers write them instead of F^2 of French-Wilson amplitudes (which would be converted twice).
    """

    f_obs: miller.array
    source: str
    columns: list[str]
    measured: Literal["amplitudes", "intensities"]
    notes: list[str] = field(default_factory=list)
    path: Path | None = None
    i_obs: miller.array | None = None
    predicted: miller.array | None = None
    provenance: dict[str, str] = field(default_factory=dict)

    @property
    def n_predicted(self) -> int:
        return 0 if self.predicted is None else int(self.predicted.data().count(1))

    def measured_only(self) -> miller.array:
        """The measured amplitudes alone (every reflection when nothing is predicted)."""
        if self.predicted is None:
            return self.f_obs
        return self.f_obs.select(self.predicted.data() == 0)


@runtime_checkable
class Source(Protocol):
    """A reflection-file format. Optional: `sniff(head: bytes) -> bool` recognises the format by the
    file's first bytes (tried before the suffix); `can_flag_predicted = True` when `write` stores the
    PREDICTED flag and provenance it receives as `predicted=` and `provenance=` (a format that cannot is
    never given predicted data unless the user allows it); `write` also receives `i_obs=` (measured
    intensities, or None)."""

    name: str
    suffixes: tuple[str, ...]
    description: str
    can_write: bool

    def read(self, path: Path, **options: Any) -> ReflectionData: ...

    def write(self, f_obs: miller.array, path: Path, **options: Any) -> None: ...


@runtime_checkable
class ModelPlugin(Protocol):
    """A network that maps the model batch (see `xrdplug.batch`) to normalised amplitudes."""

    name: str
    description: str
    default_hparams: dict[str, Any]

    def build(self, **hparams: Any) -> torch.nn.Module: ...

    def weights_path(self) -> Path | None: ...


@dataclass
class PhasingResult:
    structure: xray.structure
    phaser: str
    seconds: float
    figures: dict[str, Any] = field(default_factory=dict)
    log: str = ""


@runtime_checkable
class Phaser(Protocol):
    """An ab initio phasing backend. Optional attribute `needs_atomic_resolution` (default True): False
    tells `solve --model auto` not to extend the data first (e.g. a direct-space search)."""

    name: str
    description: str

    def available(self) -> tuple[bool, str]: ...

    def solve(self, f_obs: miller.array, **options: Any) -> PhasingResult: ...
