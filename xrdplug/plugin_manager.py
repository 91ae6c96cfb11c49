"""Find plugins through the "xrdplug" entry-point group, check what they register, and keep one per name.

Built-ins are found exactly like third-party plugins (they are entry points of the `xrdplug`
distribution). Each hook is called through pluggy, one plugin at a time, so that a plugin that fails to
import, implements a hook wrongly, raises, or registers an object lacking part of its Protocol is
recorded with one line saying what is wrong (`xrdplug plugins` prints them) and skipped: one broken plugin
never stops the others. Two plugins registering the same name of a kind are reported as a clash: the
built-in keeps the name, else the one loaded first (entry points in distribution-name order).
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
# What each Protocol of xrdplug.protocols asks for: (attribute, what it must be).
_REQUIRED: dict[Kind, tuple[tuple[str, str], ...]] = {
    "source": (("name", "str"), ("suffixes", "tuple"), ("description", "str"), ("can_write", "bool"),
               ("read", "callable")),
    "model": (("name", "str"), ("description", "str"), ("default_hparams", "dict"), ("build", "callable"),
              ("weights_path", "callable")),
    "phaser": (("name", "str"), ("description", "str"), ("available", "callable"), ("solve", "callable")),
}
_TYPES = {"str": str, "tuple": tuple, "bool": bool, "dict": dict}


@dataclass
class Entry:
    kind: Kind
    name: str
    obj: Any
    origin: str  # "built-in" or the distribution name (or "registered" for objects added at run time)
    plugin: str = ""  # the pluggy plugin (entry-point) name that registered it


@dataclass
class Failure:
    plugin: str
    origin: str
    error: str


@dataclass
class Clash:
    kind: Kind
    name: str
    kept: Entry
    dropped: Entry

    def line(self) -> str:
        why = "built-ins keep their names" if self.kept.origin == "built-in" else "the first one loaded wins"
        return (f"{self.kind} '{self.name}' is registered by {_who(self.kept)} and by {_who(self.dropped)}: "
                f"{_who(self.kept)} keeps it ({why}); rename the other one's {self.kind}")


def _who(e: Entry) -> str:
    return f"{e.plugin} ({e.origin})" if e.plugin else e.origin


@dataclass
class Registry:
    pm: pluggy.PluginManager
    entries: dict[Kind, dict[str, Entry]] = field(default_factory=lambda: {k: {} for k in _HOOKS})
    clashes: list[Clash] = field(default_factory=list)
    origins: dict[str, str] = field(default_factory=dict)
    load_failures: list[Failure] = field(default_factory=list)  # found once: loading, adding commands
    hook_failures: list[Failure] = field(default_factory=list)  # found anew by every collection

    @property
    def failures(self) -> list[Failure]:
        return self.load_failures + self.hook_failures

    def get(self, kind: Kind, name: str) -> Any:
        key = canonical(name)
        found = self.entries[kind].get(key)
        if found is None:
            known = ", ".join(sorted(self.entries[kind])) or "none"
            raise PluginError(f"no {kind} plugin named '{name}' (available: {known}; see `xrdplug plugins`)")
        return found.obj

    def names(self, kind: Kind) -> list[str]:
        return sorted(self.entries[kind])

    def origin(self, plugin_name: str) -> str:
        return self.origins.get(plugin_name, "registered")

    def call(self, hook_name: str, plugin_name: str, **kwargs: Any) -> list[Any]:
        """Call one plugin's implementation of a hook through pluggy (its argument rules, its wrappers)."""
        others = [p for n, p in self.pm.list_name_plugin() if n != plugin_name]
        return self.pm.subset_hook_caller(hook_name, remove_plugins=others)(**kwargs)

    def implementers(self, hook_name: str) -> list[str]:
        """Plugin names implementing a hook, in registration order (pluggy would call the last first)."""
        return [impl.plugin_name for impl in getattr(self.pm.hook, hook_name).get_hookimpls()]


def canonical(name: str) -> str:
    """Plugin names accept - or _ and any case: 'FFT_UNet' == 'fft-unet'."""
    return name.strip().lower().replace("_", "-")


def problems(kind: Kind, obj: Any) -> list[str]:
    """What a registered object lacks of its Protocol (`xrdplug.protocols`), as short phrases."""
    out = []
    for attr, what in _REQUIRED[kind]:
        if not hasattr(obj, attr):
            out.append(f"no '{attr}'")
        elif what == "callable" and not callable(getattr(obj, attr)):
            out.append(f"'{attr}' is not callable")
        elif what in _TYPES and not isinstance(getattr(obj, attr), _TYPES[what]):
            out.append(f"'{attr}' is {type(getattr(obj, attr)).__name__}, not {what}")
    if not out and not canonical(obj.name):
        out.append("an empty 'name'")
    if kind == "source" and not out:
        bad = [s for s in obj.suffixes if not (isinstance(s, str) and s.startswith("."))]
        if bad:
            out.append(f"suffixes {bad!r} do not start with '.'")
    return out


def _label(obj: Any) -> str:
    name = getattr(obj, "name", None)
    return f"'{name}'" if isinstance(name, str) and name else type(obj).__name__


def _collect(reg: Registry) -> None:
    reg.entries = {k: {} for k in _HOOKS}
    reg.hook_failures = []
    reg.clashes = []
    for kind, hook_name in _HOOKS.items():
        # built-ins first, then the others in the order they were loaded
        plugins = sorted(reg.implementers(hook_name), key=lambda p: reg.origin(p) != "built-in")
        for plugin in plugins:
            origin = reg.origin(plugin)
            try:
                results = reg.call(hook_name, plugin)
            except Exception as exc:  # a broken plugin must not break the others
                reg.hook_failures.append(Failure(plugin, origin, f"{hook_name} raised {exc!r}"))
                continue
            objs = [o for r in results for o in (r if isinstance(r, (list, tuple)) else [r]) if o is not None]
            for obj in objs:
                wrong = problems(kind, obj)
                if wrong:
                    reg.hook_failures.append(Failure(plugin, origin, f"{hook_name}: {kind} {_label(obj)} skipped: "
                                                f"{'; '.join(wrong)} (see xrdplug.plugin_api.{_PROTOCOL[kind]})"))
                    continue
                entry = Entry(kind, canonical(obj.name), obj, origin, plugin)
                kept = reg.entries[kind].setdefault(entry.name, entry)
                if kept is not entry:
                    reg.clashes.append(Clash(kind, entry.name, kept, entry))


_PROTOCOL: dict[Kind, str] = {"source": "Source", "model": "ModelPlugin", "phaser": "Phaser"}


def _origin(ep: md.EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    name = dist.metadata["Name"] if dist is not None else "?"
    return "built-in" if name == "xrdplug" else name


def _register_checked(reg: Registry, plugin: object, name: str | None) -> str | None:
    """Register with pluggy; a hook it misspells or implements with unknown arguments is a failure."""
    try:
        name = reg.pm.register(plugin, name=name)
    except Exception:
        # pluggy before 1.7 records the plugin before it checks the hooks; leave nothing half-registered
        if name is not None and reg.pm.has_plugin(name) and reg.pm.get_plugin(name) is plugin:
            reg.pm.unregister(name=name)
        raise
    if name is None:
        return None
    known = {n for n in dir(hookspecs) if n.startswith("xrdplug_")}
    misspelt = [n for n in dir(plugin) if n.startswith("xrdplug_") and n not in known
                and reg.pm.parse_hookimpl_opts(plugin, n) is not None]
    if misspelt:
        reg.pm.unregister(name=name)
        raise PluginError(f"implements no such hook {', '.join(misspelt)} (hooks: {', '.join(sorted(known))})")
    return name


_registry: Registry | None = None


def registry(refresh: bool = False) -> Registry:
    """The process-wide registry, loaded on first use."""
    global _registry
    if _registry is not None and not refresh:
        return _registry
    pm = pluggy.PluginManager("xrdplug")
    pm.add_hookspecs(hookspecs)
    reg = Registry(pm)
    eps = sorted(md.entry_points(group="xrdplug"), key=lambda ep: (_origin(ep) != "built-in", _origin(ep), ep.name))
    for ep in eps:
        origin = _origin(ep)
        if pm.has_plugin(ep.name):
            first = reg.origin(ep.name)
            reg.load_failures.append(Failure(ep.name, origin, f"entry point '{ep.name} = {ep.value}' not loaded: "
                                             f"{first} already has an entry point named '{ep.name}'"))
            continue
        try:
            _register_checked(reg, ep.load(), ep.name)
            reg.origins[ep.name] = origin
        except Exception as exc:
            why = str(exc) if isinstance(exc, (PluginError, pluggy.PluginValidationError)) else repr(exc)
            reg.load_failures.append(Failure(ep.name, origin, f"failed to load {ep.value}: {' '.join(why.split())}"))
    _collect(reg)
    _registry = reg
    return reg


def register(plugin: object, name: str | None = None) -> None:
    """Register a plugin object at run time (for scripts and tests), then refresh the registry. A plugin
    pluggy refuses (a hook with arguments its spec lacks, a misspelt hook) raises PluginError."""
    reg = registry()
    try:
        _register_checked(reg, plugin, name)
    except (pluggy.PluginValidationError, ValueError) as exc:
        raise PluginError(f"plugin {name or plugin!r}: {' '.join(str(exc).split())}") from None
    _collect(reg)


def unregister(name: str) -> None:
    reg = registry()
    reg.pm.unregister(name=name)
    _collect(reg)
