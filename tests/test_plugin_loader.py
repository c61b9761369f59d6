"""The plugin loader: sample, broken and colliding plugins through patched entry points."""
import sys
import types
from dataclasses import dataclass

import pytest
from typer.testing import CliRunner

from unlearn_cli import hookimpl, plugins
from unlearn_cli.api import ComponentSpec, UnlearnError
from unlearn_cli.cli.main import create_app


@dataclass
class FakeDist:
    name: str
    version: str


class FakeEntryPoint:
    def __init__(self, name, module, dist="sample-dist", version="1.2.3"):
        self.name, self.value, self.dist = name, module, FakeDist(dist, version)

    def load(self):
        __import__(self.value)
        return sys.modules[self.value]


def _module(monkeypatch, name, **attrs):
    module = types.ModuleType(name)
    for key, value in attrs.items():
        setattr(module, key, value)
    monkeypatch.setitem(sys.modules, name, module)
    return module


def _sample_repulsion(monkeypatch, module_name="sample_plugin", rep_name="sample"):
    @hookimpl
    def register_repulsions():
        return [ComponentSpec(rep_name, "a sample repulsion", "math:exp")]

    return _module(monkeypatch, module_name, register_repulsions=register_repulsions)


def _patch(monkeypatch, entry_points):
    monkeypatch.setattr(plugins, "_entry_points", lambda: entry_points)
    plugins.reset_registry()


def test_sample_plugin_is_listed_and_loadable(monkeypatch):
    _sample_repulsion(monkeypatch)
    _patch(monkeypatch, [FakeEntryPoint("sample", "sample_plugin")])
    registry = plugins.get_registry()
    assert registry.names("repulsion") == ["sample"]
    import math

    assert registry.load("repulsion", "sample") is math.exp
    row = plugins.as_rows(registry)[0]
    assert (row["distribution"], row["version"], row["status"]) == ("sample-dist", "1.2.3", "ok")


def test_broken_plugin_is_skipped_with_warning(monkeypatch, capsys):
    _sample_repulsion(monkeypatch)
    _patch(monkeypatch, [FakeEntryPoint("broken", "no_such_module_xyz"),
                         FakeEntryPoint("sample", "sample_plugin")])
    registry = plugins.get_registry()
    err = capsys.readouterr().err
    assert "plugin 'broken'" in err and "failed to load" in err
    assert registry.names("repulsion") == ["sample"]
    failed = [r for r in plugins.as_rows(registry) if r["status"] == "failed"]
    assert failed and failed[0]["name"] == "broken" and "ModuleNotFoundError" in failed[0]["summary"]


def test_plugin_whose_hook_raises_is_marked_failed(monkeypatch, capsys):
    @hookimpl
    def register_repulsions():
        raise RuntimeError("boom")

    _module(monkeypatch, "raising_plugin", register_repulsions=register_repulsions)
    _sample_repulsion(monkeypatch)
    _patch(monkeypatch, [FakeEntryPoint("raising", "raising_plugin"),
                         FakeEntryPoint("sample", "sample_plugin")])
    registry = plugins.get_registry()
    assert registry.names("repulsion") == ["sample"]
    assert [p.status for p in registry.plugins] == ["failed", "ok"]
    assert "boom" in capsys.readouterr().err


def test_collision_is_reported_and_ambiguous_use_names_both(monkeypatch, capsys):
    _sample_repulsion(monkeypatch, "plugin_a")
    _sample_repulsion(monkeypatch, "plugin_b")
    # same entry-point name from two distributions: both are kept, not silently dropped
    _patch(monkeypatch, [FakeEntryPoint("same", "plugin_a", dist="dist-a"),
                         FakeEntryPoint("same", "plugin_b", dist="dist-b")])
    registry = plugins.get_registry()
    assert "offered by dist-a (same) and dist-b (same)" in capsys.readouterr().err
    with pytest.raises(UnlearnError, match="dist-a.*dist-b"):
        registry.find("repulsion", "sample")


def test_unknown_name_lists_valid_ones(monkeypatch):
    _sample_repulsion(monkeypatch)
    _patch(monkeypatch, [FakeEntryPoint("sample", "sample_plugin")])
    with pytest.raises(UnlearnError, match="unknown repulsion 'nope'; available: sample"):
        plugins.get_registry().find("repulsion", "nope")


def test_load_plugins_env_restricts_third_party(monkeypatch):
    _sample_repulsion(monkeypatch)
    _patch(monkeypatch, [FakeEntryPoint("sample", "sample_plugin")])
    monkeypatch.setenv("GAN_UNLEARN_LOAD_PLUGINS", "")
    plugins.reset_registry()
    assert plugins.get_registry().names("repulsion") == []
    monkeypatch.setenv("GAN_UNLEARN_LOAD_PLUGINS", "other, sample-dist")
    plugins.reset_registry()
    assert plugins.get_registry().names("repulsion") == ["sample"]


def test_trace_prints_hook_calls(monkeypatch, capsys):
    _sample_repulsion(monkeypatch)
    _patch(monkeypatch, [FakeEntryPoint("sample", "sample_plugin")])
    monkeypatch.setenv("GAN_UNLEARN_TRACE_PLUGINS", "1")
    plugins.get_registry()
    assert "register_repulsions() -> sample-dist:sample" in capsys.readouterr().err


def test_plugin_commands_get_panel_and_collisions_are_refused(monkeypatch):
    @hookimpl
    def register_commands(app):
        @app.command("hello")
        def hello():
            """Say hello."""
            print("hello from plugin")

        @app.command("info")
        def fake_info():
            print("hijacked")

    _module(monkeypatch, "cmd_plugin", register_commands=register_commands)
    _patch(monkeypatch, [FakeEntryPoint("cmds", "cmd_plugin")])
    app = create_app()
    runner = CliRunner()
    result = runner.invoke(app, ["hello"])
    assert result.exit_code == 0 and "hello from plugin" in result.output
    panels = {c.name: c.rich_help_panel for c in app.registered_commands}
    assert panels["hello"] == "Plugins" and panels["info"] != "Plugins"
    assert "hijacked" not in runner.invoke(app, ["info", "missing.safetensors"]).output


def test_plugin_options_reach_a_third_party_source(monkeypatch, tmp_path):
    """`--plugin-option KEY=VALUE` and the YAML's `plugin_options` arrive, merged, in the source's
    context.options; a flag overrides the file's value for its key only."""
    from engine_helpers import tiny_dcgan_file

    seen = {}

    def collect(context):
        seen.update(context.options["plugin_options"])
        raise UnlearnError("recorded")

    @hookimpl
    def register_sources():
        return [ComponentSpec("recorder", "records its options", "options_plugin:collect")]

    ckpt = tiny_dcgan_file(tmp_path / "g.safetensors")
    _module(monkeypatch, "options_plugin", register_sources=register_sources, collect=collect)
    _patch(monkeypatch, list(plugins._entry_points()) + [FakeEntryPoint("recorder", "options_plugin")])
    config = tmp_path / "run.yaml"
    config.write_text("plugin_options:\n  blur: 2\n  mode: soft\n")
    result = CliRunner().invoke(create_app(), [
        "run", "--ckpt", str(ckpt), "--source", "recorder", "--config", str(config),
        "--plugin-option", "blur=3", "--plugin-option", "strict=true", "--device", "cpu",
        "--out", str(tmp_path / "out")])
    assert result.exit_code == 1 and "recorded" in result.output
    assert seen == {"blur": 3, "mode": "soft", "strict": True}
    assert not (tmp_path / "out").exists()  # nothing half-written


@pytest.mark.parametrize("item", ["blur", "=3", "a.b=1"])
def test_bad_plugin_option_is_one_line(item, tmp_path):
    result = CliRunner().invoke(create_app(), ["run", "--plugin-option", item, "--out", str(tmp_path / "o")])
    assert result.exit_code != 0
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "--plugin-option takes KEY=VALUE" in lines[0]
    assert not (tmp_path / "o").exists()
