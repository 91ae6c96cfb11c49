"""Plugins from outside the package: found through entry points exactly like the built-ins."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

PLUGIN = '''
"""A third-party source: whitespace text 'h k l F sigF' with a '# cell a b c al be ga sg' header."""
from pathlib import Path
from xrdplug import hookimpl
from xrdplug.protocols import ReflectionData


class TextSource:
    name = "plain-text"
    suffixes = (".fsig",)
    description = "h k l F sigF text"
    can_write = False

    def read(self, path, **_):
        from cctbx_bridge.reflections import symmetry_from_options, to_amplitudes
        from cctbx import miller
        from cctbx.array_family import flex
        lines = Path(path).read_text().splitlines()
        head = lines[0].split()[2:]
        cs = symmetry_from_options(cell=" ".join(head[:6]), space_group=head[6])
        rows = [l.split() for l in lines[1:] if l.strip()]
        idx = flex.miller_index([tuple(int(x) for x in r[:3]) for r in rows])
        arr = miller.array(miller.set(cs, idx, anomalous_flag=False),
                           data=flex.double([float(r[3]) for r in rows]),
                           sigmas=flex.double([float(r[4]) for r in rows])).set_observation_type_xray_amplitude()
        amp = to_amplitudes(arr, str(path))
        return ReflectionData(amp.f_obs, self.name, ["F", "sigF"], "amplitudes", amp.notes, Path(path))


@hookimpl
def xrdplug_register_sources():
    return [TextSource()]


@hookimpl
def xrdplug_add_commands(app):
    @app.command("hello-text")
    def hello(name: str = "world"):
        """Say hello (a command added by a plugin)."""
        print(f"hello {name} from xrdplug_textsource")
'''

BROKEN_IMPORT = "raise RuntimeError('this plugin is broken on purpose')\n"
BROKEN_HOOK = '''
from xrdplug import hookimpl

@hookimpl
def xrdplug_register_phasers():
    raise ValueError("hook exploded")
'''


def _install_fake_distribution(root: Path, dist: str, modules: dict[str, str], entry_points: dict[str, str]) -> None:
    for name, code in modules.items():
        (root / f"{name}.py").write_text(code)
    info = root / f"{dist}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    eps = "\n".join(f"{k} = {v}" for k, v in entry_points.items())
    (info / "entry_points.txt").write_text(f"[xrdplug]\n{eps}\n")


@pytest.fixture
def third_party(tmp_path: Path) -> dict[str, str]:
    site = tmp_path / "site"
    site.mkdir()
    _install_fake_distribution(site, "xrdplug_textsource", {"xp_text": PLUGIN}, {"plain_text": "xp_text"})
    _install_fake_distribution(
        site, "xrdplug_broken", {"xp_broken": BROKEN_IMPORT, "xp_badhook": BROKEN_HOOK},
        {"broken": "xp_broken", "badhook": "xp_badhook"},
    )
    return {"PYTHONPATH": str(site), "COLUMNS": "200"}


def test_builtins_are_listed_by_kind(cli):
    res = cli("plugins", env={"COLUMNS": "200"})
    assert res.returncode == 0, res.stderr
    for kind, name in [("source", "mtz"), ("source", "shelx-hkl"), ("source", "cif")]:
        assert any(kind in line and name in line and "built-in" in line for line in res.stdout.splitlines())


def test_third_party_plugin_is_listed_and_used_and_broken_ones_are_named(cli, third_party, tmp_path, thpp):
    data = tmp_path / "tiny.fsig"
    data.write_text(textwrap.dedent("""\
        # cell 10 11 12 90 100 90 P21/c
        1 1 1 10.0 0.5
        2 0 0 20.0 0.7
        0 2 1 5.0 0.3
        """))
    listing = cli("plugins", env=third_party)
    assert listing.returncode == 0, listing.stderr
    assert any("plain-text" in line and "xrdplug_textsource" in line for line in listing.stdout.splitlines())
    out = " ".join(listing.stdout.split())
    assert "broken plugin broken (xrdplug_broken)" in out and "on purpose" in out
    assert "broken plugin badhook (xrdplug_broken)" in out and "hook exploded" in out
    # the built-ins still work beside the broken ones
    assert "shelx-hkl" in out
    helped = cli("--help", env=third_party)
    assert "hello-text" in helped.stdout
    hello = cli("hello-text", "--name", "crystal", env=third_party)
    assert hello.returncode == 0 and "hello crystal from xrdplug_textsource" in hello.stdout
    info = cli("info", data, env=third_party)
    assert info.returncode == 0, info.stderr
    assert "plain-text" in info.stdout and "3 unique" in info.stdout
    assert cli("info", thpp["hkl"], env=third_party).returncode == 0


def test_runtime_registration_from_a_script():
    from xrdplug.plugin_manager import register, registry, unregister

    class Mod:
        class Src:
            name = "In_Script"
            suffixes = (".insc",)
            description = "test"
            can_write = False

            def read(self, path, **options):
                raise NotImplementedError

        @staticmethod
        def xrdplug_register_sources():
            return [Mod.Src()]

    from xrdplug import hookimpl

    Mod.xrdplug_register_sources = staticmethod(hookimpl(Mod.xrdplug_register_sources))
    register(Mod, name="in-script")
    try:
        assert "in-script" in registry().names("source")
        assert registry().get("source", "IN_SCRIPT").suffixes == (".insc",)
    finally:
        unregister("in-script")
    assert "in-script" not in registry().names("source")


CHECKED = '''
from xrdplug.plugin_api import hookimpl, ModelSpec


class HalfPhaser:  # no solve(): not a Phaser
    name = "half"
    description = "lacks solve"

    def available(self):
        return True, ""


@hookimpl
def xrdplug_register_phasers():
    return [HalfPhaser()]


@hookimpl
def xrdplug_register_models():
    return [ModelSpec("unet", "a third party's unet", {}, "nowhere:build"),
            ModelSpec("shared-net", "first of two", {}, "nowhere:build")]
'''
OTHER = '''
from xrdplug.plugin_api import hookimpl, ModelSpec


@hookimpl
def xrdplug_register_models():
    return [ModelSpec("Shared_Net", "second of two", {}, "nowhere:build")]
'''
MISSPELT = '''
from xrdplug.plugin_api import hookimpl


@hookimpl
def xrdplug_register_model():
    return []
'''
BAD_ARGS = '''
from xrdplug.plugin_api import hookimpl


@hookimpl
def xrdplug_register_sources(config):
    return []
'''


def test_broken_plugins_get_one_line_each_and_clashes_are_named(cli, tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    _install_fake_distribution(site, "xrdplug_aaa", {"xp_checked": CHECKED, "xp_misspelt": MISSPELT,
                                                     "xp_badargs": BAD_ARGS},
                               {"checked": "xp_checked", "misspelt": "xp_misspelt", "badargs": "xp_badargs"})
    _install_fake_distribution(site, "xrdplug_bbb", {"xp_other": OTHER}, {"other": "xp_other"})
    res = cli("plugins", env={"PYTHONPATH": str(site), "COLUMNS": "400"})
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()

    def one(*words: str) -> str:
        found = [ln for ln in lines if all(w in ln for w in words)]
        assert len(found) == 1, (words, res.stdout)
        return found[0]

    one("broken plugin checked (xrdplug_aaa)", "phaser 'half' skipped", "no 'solve'", "Phaser")
    one("broken plugin misspelt (xrdplug_aaa)", "no such hook xrdplug_register_model")
    one("broken plugin badargs (xrdplug_aaa)", "config")
    clash = one("name clash", "model 'unet'")
    assert "unet (built-in) keeps it (built-ins keep their names)" in clash and "checked (xrdplug_aaa)" in clash
    clash = one("name clash", "model 'shared-net'")
    assert "checked (xrdplug_aaa) keeps it (the first one loaded wins)" in clash and "other (xrdplug_bbb)" in clash
    # the built-in unet is the one listed, and the rest still works
    assert any("unet" in ln and "built-in" in ln and "yes" in ln for ln in lines)
    assert any("shared-net" in ln and "xrdplug_aaa" in ln for ln in lines)


def test_runtime_registration_is_checked_by_pluggy():
    from xrdplug.errors import PluginError
    from xrdplug.plugin_api import hookimpl
    from xrdplug.plugin_manager import register, registry

    class Wrong:
        @hookimpl
        def xrdplug_register_models(self, extra):
            return []

    with pytest.raises(PluginError, match="extra"):
        register(Wrong(), name="wrong-args")
    assert not registry().pm.has_plugin("wrong-args")
