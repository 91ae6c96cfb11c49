"""Figures: matplotlib without a display, saved atomically like every other output."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .files import atomic_output


def pyplot() -> Any:
    """matplotlib.pyplot on the Agg backend (no screen needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Any, path: str | Path, dpi: int = 120) -> Path:
    """Write the figure in the format its suffix names (PNG by default), then close it."""
    out = Path(path)
    with atomic_output(out) as tmp:
        fig.savefig(tmp, format=out.suffix.lstrip(".") or "png", dpi=dpi)
    pyplot().close(fig)
    return out
