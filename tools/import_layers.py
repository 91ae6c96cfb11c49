"""Print the imports between the project's packages that break the layering (run: python tools/import_layers.py).

Layers, bottom first: the core (xrdplug's plain modules: no torch, no cctbx), the bridges (cctbx_bridge,
rdkit_bridge), xrdplug.data, xrdplug.models, the host's jobs and CLI, plugins. A package may import its own
layer and those below; it prints every import (module level or inside a function) that points up, every
import of a private name from another package, and exits 1 if there are any.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {"xrdplug": "xrdplug", "cctbx_bridge": "cctbx_bridge", "rdkit_bridge": "rdkit_bridge",
            "xrdplug_plugins": "plugins"}


def package_of(module: str) -> str:
    parts = module.split(".")
    if parts[0] == "xrdplug" and len(parts) > 1 and parts[1] in ("data", "models", "commands"):
        return f"xrdplug.{parts[1]}"
    return parts[0]


# Which packages each may import (besides itself). The host modules that run jobs (pipeline, solving, the
# benchmarks, cli) sit above data and models (listed in HOST); xrdplug's other plain modules are the core.
ALLOWED = {
    "core": set(),
    "cctbx_bridge": {"core", "rdkit_bridge"},
    "rdkit_bridge": {"core"},
    "xrdplug.data": {"core", "cctbx_bridge", "rdkit_bridge"},
    "xrdplug.models": {"core", "xrdplug.data", "cctbx_bridge"},
    "host": {"core", "cctbx_bridge", "rdkit_bridge", "xrdplug.data", "xrdplug.models"},
    "xrdplug.commands": {"core", "host", "cctbx_bridge", "rdkit_bridge", "xrdplug.data", "xrdplug.models"},
    "xrdplug_plugins": {"core", "host", "cctbx_bridge", "rdkit_bridge", "xrdplug.data", "xrdplug.models"},
}
HOST = {"xrdplug", "xrdplug.plugin_api", "xrdplug.pipeline", "xrdplug.solving", "xrdplug.model_choice",
        "xrdplug.solve_report", "xrdplug.thpp", "xrdplug.case_bench", "xrdplug.bench_solve", "xrdplug.bench_phasers",
        "xrdplug.bench_simulate", "xrdplug.bench_extend"}


def layer(module: str) -> str:
    if module in ("xrdplug.cli", "xrdplug.__main__"):
        return "xrdplug.commands"
    pkg = package_of(module)
    if pkg != "xrdplug":
        return pkg
    return "host" if module in HOST or module.startswith(("xrdplug.solving", "xrdplug.jobs")) else "core"


def modules() -> dict[str, Path]:
    out = {}
    for top, folder in PACKAGES.items():
        for path in (ROOT / folder).rglob("*.py"):
            rel = path.relative_to(ROOT / folder).with_suffix("")
            parts = [top, *rel.parts]
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = path
    return out


def imports(module: str, path: Path, known: dict[str, Path]) -> list[tuple[int, str, list[str]]]:
    tree = ast.parse(path.read_text())
    is_pkg = path.name == "__init__.py"
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name, []) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base[: len(base) - node.level + (1 if is_pkg else 0)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            names = [a.name for a in node.names]
            subs = [n for n in names if f"{target}.{n}" in known]
            out += [(node.lineno, f"{target}.{n}", []) for n in subs]
            rest = [n for n in names if n not in subs]
            if rest or not names:
                out.append((node.lineno, target, rest))
    return out


def main() -> int:
    mods = modules()
    bad = []
    for module, path in sorted(mods.items()):
        mine = layer(module)
        for line, target, names in imports(module, path, mods):
            if target.split(".")[0] not in PACKAGES:
                continue
            theirs = layer(target)
            where = f"{path.relative_to(ROOT)}:{line}"
            if theirs != mine and theirs not in ALLOWED[mine]:
                bad.append(f"{where}: {mine} imports {target} ({theirs}): upward")
            private = [n for n in names if n.startswith("_") and not n.startswith("__")]
            if private and package_of(target) != package_of(module):
                bad.append(f"{where}: imports private {', '.join(private)} from {target}")
    print("\n".join(bad) or "no upward or private imports")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
