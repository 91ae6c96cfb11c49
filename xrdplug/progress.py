"""The one progress bar of long commands (rich): description, bar, done/total, times, one extra field."""

from __future__ import annotations

from typing import Any


def progress_bar(extra: str, disable: bool = False) -> Any:
    """A rich Progress; `extra` is a format string over the task's fields, e.g. "loss {task.fields[loss]}"."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn(extra),
        TimeElapsedColumn(), TimeRemainingColumn(), disable=disable, transient=False,
    )
