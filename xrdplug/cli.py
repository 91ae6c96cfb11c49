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
    for plugin in reg.implementers("xrdplug_add_commands"):
        try:
            reg.call("xrdplug_add_commands", plugin, app=app)
        except Exception as exc:
            reg.load_failures.append(Failure(plugin, reg.origin(plugin), f"xrdplug_add_commands raised {exc!r}"))


_load_commands()


def _fail(message: str, code: int) -> None:
    message = " ".join(message.split())  # one line, whatever a library put in the message
    print(f"xrdplug: error: {message}", file=sys.stderr)
    sys.exit(code)


def main() -> None:
    """Run the CLI. Usage errors (unknown command or option, a bad value, a missing argument) are Typer's
    own: its standalone mode prints the usage and the error and exits 2, without our needing click (typer
    0.29 vendors it and no longer installs it). Our own errors leave the app and are printed here."""
    _load_plugin_commands()
    try:
        app(standalone_mode=True)
    except XrdplugError as exc:
        _fail(str(exc), exc.exit_code)
    except KeyboardInterrupt:
        _fail("interrupted", 130)
    except Exception as exc:
        if os.environ.get("XRDPLUG_DEBUG"):
            raise
        _fail(f"internal error: {exc!r} (set XRDPLUG_DEBUG=1 for a traceback and please report it)", 1)


if __name__ == "__main__":  # pragma: no cover
    main()
