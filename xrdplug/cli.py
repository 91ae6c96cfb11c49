"""The `xrdplug` command line. Sub-commands live one module each in `xrdplug/commands/`.

Start-up imports only typer: cctbx and torch load inside the commands that need them.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import sys

import typer

from . import commands
from .errors import XrdplugError

app = typer.Typer(
    name="xrdplug",
    help="Extend X-ray data from 1.5 A to 0.8 A with trained models, then phase it ab initio.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
bench = typer.Typer(help="Benchmarks that print their figures.", no_args_is_help=True)
app.add_typer(bench, name="bench")


def _load_commands() -> None:
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        module.register(app, bench)


_plugin_commands_loaded = False


def _load_plugin_commands() -> None:
    """Commands that plugins add (hook xrdplug_add_commands). Loading entry points costs ~40 ms and no
    torch/cctbx import; a plugin whose hook raises is recorded and shown by `xrdplug plugins`."""
    from .plugin_manager import Failure, registry

    global _plugin_commands_loaded
    if _plugin_commands_loaded:
        return
    _plugin_commands_loaded = True
    reg = registry()
    for impl in reg.pm.hook.xrdplug_add_commands.get_hookimpls():
        try:
            impl.function(app=app)
        except Exception as exc:
            origin = reg.origins.get(impl.plugin_name, "registered")
            reg.failures.append(Failure(impl.plugin_name, origin, f"xrdplug_add_commands raised {exc!r}"))


_load_commands()


def _fail(message: str, code: int) -> None:
    message = " ".join(message.split())  # one line, whatever a library put in the message
    print(f"xrdplug: error: {message}", file=sys.stderr)
    sys.exit(code)


def main() -> None:
    _load_plugin_commands()
    try:
        app(standalone_mode=False)
    except XrdplugError as exc:
        _fail(str(exc), exc.exit_code)
    except KeyboardInterrupt:
        _fail("interrupted", 130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except Exception as exc:  # click usage errors and the like
        import click

        if isinstance(exc, click.exceptions.Abort):
            _fail("aborted", 1)
        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        if os.environ.get("XRDPLUG_DEBUG"):
            raise
        _fail(f"internal error: {exc!r} (set XRDPLUG_DEBUG=1 for a traceback and please report it)", 1)


if __name__ == "__main__":  # pragma: no cover
    main()
