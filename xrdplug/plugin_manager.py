"""Find plugins through the "xrdplug" entry-point group and collect what they register.

Built-ins are found exactly like third-party plugins (they are entry points of the `xrdplug`
distribution). A plugin that fails to import, or raises in a hook, is recorded with its error and skipped:
one broken plugin never stops the others.
"""

from __future__ import annotations

import importlib.metadata as md
from dataclasses import dataclass, field
from typing import Any, Literal

import pluggy

from . import hookspecs
from .errors import PluginError

Kind = Literal["source", "model", "phaser"]
_HOOKS: dict[Kind, str] = {
    "source": "xrdplug_register_sources",
    "model": "xrdplug_register_models",
    "phaser": "xrdplug_register_phasers",
}


@dataclass
class Entry:
    kind: Kind
    name: str
    obj: Any
    origin: str  # "built-in" or the distribution name (or "registered" for objects added at run time)


@dataclass
class Failure:
    plugin: str
    origin: str
    error: str


@dataclass
class Registry:
    pm: pluggy.PluginManager
    entries: dict[Kind, dict[str, Entry]] = field(default_factory=lambda: {k: {} for k in _HOOKS})
    failures: list[Failure] = field(default_factory=list)
    origins: dict[str, str] = field(default_factory=dict)

    def get(self, kind: Kind, name: str) -> Any:
        key = canonical(name)
        found = self.entries[kind].get(key)
        if found is None:
            known = ", ".join(sorted(self.entries[kind])) or "none"
            raise PluginError(f"no {kind} plugin named '{name}' (available: {known}; see `xrdplug plugins`)")
        return found.obj

    def names(self, kind: Kind) -> list[str]:
        return sorted(self.entries[kind])


def canonical(name: str) -> str:
    """Plugin names accept - or _ and any case: 'FFT_UNet' == 'fft-unet'."""
    return name.strip().lower().replace("_", "-")


_registry: Registry | None = None


def _origin(ep: md.EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    name = dist.metadata["Name"] if dist is not None else "?"
    return "built-in" if name == "xrdplug" else name


def _collect(reg: Registry) -> None:
    reg.entries = {k: {} for k in _HOOKS}
    for kind, hook_name in _HOOKS.items():
        for impl in getattr(reg.pm.hook, hook_name).get_hookimpls():
            origin = reg.origins.get(impl.plugin_name, "registered")
            try:
                objs = impl.function() or []
            except Exception as exc:  # a broken plugin must not break the others
                reg.failures.append(Failure(impl.plugin_name, origin, f"{hook_name} raised {exc!r}"))
                continue
            for obj in objs:
                name = canonical(getattr(obj, "name", ""))
                if not name:
                    reg.failures.append(Failure(impl.plugin_name, origin, f"{kind} without a name"))
                    continue
                reg.entries[kind].setdefault(name, Entry(kind, name, obj, origin))


def registry(refresh: bool = False) -> Registry:
    """The process-wide registry, loaded on first use."""
    global _registry
    if _registry is not None and not refresh:
        return _registry
    pm = pluggy.PluginManager("xrdplug")
    pm.add_hookspecs(hookspecs)
    reg = Registry(pm)
    for ep in md.entry_points(group="xrdplug"):
        origin = _origin(ep)
        if pm.has_plugin(ep.name):
            continue
        try:
            module = ep.load()
            pm.register(module, name=ep.name)
            reg.origins[ep.name] = origin
        except Exception as exc:
            reg.failures.append(Failure(ep.name, origin, f"failed to load {ep.value}: {exc!r}"))
    _collect(reg)
    _registry = reg
    return reg


def register(plugin: object, name: str | None = None) -> None:
    """Register a plugin object at run time (for scripts and tests), then refresh the registry."""
    reg = registry()
    reg.pm.register(plugin, name=name)
    _collect(reg)


def unregister(name: str) -> None:
    reg = registry()
    reg.pm.unregister(name=name)
    _collect(reg)
