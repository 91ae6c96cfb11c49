"""Every hook a plugin can implement, in one file (pluggy project "xrdplug").

A plugin is a module or object registered under the entry-point group "xrdplug" in its distribution's
pyproject.toml, e.g.::

    [project.entry-points."xrdplug"]
    my_model = "my_package.my_model"

and implementing any of the hooks below with ``@xrdplug.hookimpl``.
"""

from __future__ import annotations

from typing import Any

import pluggy

hookspec = pluggy.HookspecMarker("xrdplug")
hookimpl = pluggy.HookimplMarker("xrdplug")


@hookspec
def xrdplug_register_sources() -> list[Any]:
    """Return data sources (see `xrdplug.protocols.Source`): readers/writers of reflection files."""


@hookspec
def xrdplug_register_models() -> list[Any]:
    """Return model plugins (see `xrdplug.protocols.ModelPlugin`): resolution-extension networks."""


@hookspec
def xrdplug_register_phasers() -> list[Any]:
    """Return phasers (see `xrdplug.protocols.Phaser`): ab initio structure solution backends."""


@hookspec
def xrdplug_add_commands(app: Any) -> None:
    """Add Typer sub-commands to the `xrdplug` CLI (`app` is the root `typer.Typer`)."""
