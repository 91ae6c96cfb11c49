"""`xrdplug plugins`: every registered plugin, by kind, with its origin and whether it is usable now."""

from __future__ import annotations

import typer


def _usable(kind: str, obj: object) -> tuple[bool, str]:
    if kind == "phaser":
        try:
            return obj.available()  # type: ignore[attr-defined]
        except Exception as exc:
            return False, f"available() raised {exc!r}"
    if kind == "model":
        path = obj.weights_path()  # type: ignore[attr-defined]
        if path is None:
            return True, "no shipped weights: train with `xrdplug train` and pass --checkpoint"
        return (True, f"weights {path.name}") if path.exists() else (False, f"weights missing: {path}")
    if kind == "source":
        suffixes = ", ".join(getattr(obj, "suffixes", ()))
        mode = "read/write" if getattr(obj, "can_write", False) else "read"
        how = [suffixes] if suffixes else []
        if callable(getattr(obj, "sniff", None)):
            how.append("recognised by content")
        if getattr(obj, "can_write", False) and getattr(obj, "can_flag_predicted", False):
            how.append("keeps the PREDICTED flag")
        return True, f"{mode}: {'; '.join(how)}"
    return True, ""


def plugins() -> None:
    """List every plugin by kind (source, model, phaser), where it came from and whether it is usable."""
    from rich.console import Console
    from rich.table import Table

    from ..plugin_manager import registry

    reg = registry()
    table = Table(title="xrdplug plugins")
    for col in ("kind", "name", "origin", "usable", "details"):
        table.add_column(col)
    for kind in ("source", "model", "phaser"):
        for name in reg.names(kind):  # type: ignore[arg-type]
            entry = reg.entries[kind][name]  # type: ignore[index]
            ok, why = _usable(kind, entry.obj)
            table.add_row(kind, name, entry.origin, "yes" if ok else "no", why)
    console = Console()
    console.print(table)
    for failure in reg.failures:
        console.print(f"[red]broken plugin[/red] {failure.plugin} ({failure.origin}): {failure.error}")
    for clash in reg.clashes:
        console.print(f"[yellow]name clash[/yellow]: {clash.line()}")


def register(app: typer.Typer, bench: typer.Typer) -> None:
    app.command("plugins")(plugins)
