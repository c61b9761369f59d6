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


def test_collision_lists_qualified_names_and_each_stays_usable(monkeypatch, capsys):
    _sample_repulsion(monkeypatch, "plugin_a")
    _sample_repulsion(monkeypatch, "plugin_b")
    # same entry-point name from two distributions: both are kept, not silently dropped
    _patch(monkeypatch, [FakeEntryPoint("same", "plugin_a", dist="dist-a"),
                         FakeEntryPoint("same", "plugin_b", dist="dist-b")])
    registry = plugins.get_registry()
    assert capsys.readouterr().err == ""  # said by list-plugins, not by every command
    with pytest.raises(UnlearnError, match="offered by 2 distributions; name one: "
                                           "dist-a:sample or dist-b:sample"):
        registry.find("repulsion", "sample")
    assert registry.provided("repulsion", "dist-a:sample").plugin.dist == "dist-a"
    assert registry.provided("repulsion", "Dist_B:sample").plugin.dist == "dist-b"  # PEP 503
    assert registry.warnings() == ["repulsion 'sample' is offered by dist-a (same) and dist-b "
                                   "(same); the bare name is an error, use dist-a:sample or "
                                   "dist-b:sample"]
    with pytest.raises(UnlearnError, match="no installed distribution 'dist-c' offers it; "
                                           "available: dist-a:sample, dist-b:sample"):
        registry.find("repulsion", "dist-c:sample")


def test_a_builtin_stays_usable_beside_a_namesake(monkeypatch, tmp_path):
    """A third-party `l2` makes bare `--repulsion l2` ambiguous, never the built-in unusable."""
    _sample_repulsion(monkeypatch, "plugin_l2", rep_name="l2")
    _patch(monkeypatch, list(plugins._entry_points()) + [FakeEntryPoint("l2", "plugin_l2", dist="other")])
    runner = CliRunner()
    bare = runner.invoke(create_app(), ["run", "--repulsion", "l2", "--out", str(tmp_path / "o")])
    assert bare.exit_code == 1
    assert "repulsion 'l2' is offered by 2 distributions; name one: gan-unlearn:l2 or other:l2" in bare.output
    listed = runner.invoke(create_app(), ["list-plugins"])
    assert listed.exit_code == 0 and listed.output.count("offered by gan-unlearn") == 1
    assert plugins.get_registry().load("repulsion", "gan-unlearn:l2").__name__ == "l2"


def test_disable_plugins_switches_off_single_distributions(monkeypatch):
    _sample_repulsion(monkeypatch, "plugin_a", rep_name="a")
    _sample_repulsion(monkeypatch, "plugin_b", rep_name="b")
    _patch(monkeypatch, [FakeEntryPoint("a", "plugin_a", dist="dist-a"),
                         FakeEntryPoint("b", "plugin_b", dist="dist-b")])
    monkeypatch.setenv("GAN_UNLEARN_DISABLE_PLUGINS", "dist_a")
    assert plugins.get_registry().names("repulsion") == ["b"]
    monkeypatch.setenv("GAN_UNLEARN_LOAD_PLUGINS", "dist-a,dist-b")  # disabling wins
    plugins.reset_registry()
    assert plugins.get_registry().names("repulsion") == ["b"]


def test_failed_import_shows_its_traceback_with_debug(monkeypatch, capsys):
    _patch(monkeypatch, [FakeEntryPoint("broken", "no_such_module_xyz")])
    runner = CliRunner()
    plain = runner.invoke(create_app(), ["list-plugins"])
    err = capsys.readouterr().err  # (the registry was built, and warned, before invoke)
    assert "failed to load" in err and "Traceback" not in err + plain.output
    assert "--debug or GAN_UNLEARN_DEBUG=1 shows the traceback" in err
    plugins.reset_registry()
    debug = runner.invoke(create_app(), ["--debug", "list-plugins"])
    assert "Traceback (most recent call last)" in debug.output
    assert "ModuleNotFoundError: No module named 'no_such_module_xyz'" in debug.output


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

    @hookimpl
    def register_commands_too(app):
        @app.command("bye")
        def bye():
            """Say bye."""

    _module(monkeypatch, "cmd_plugin", register_commands=register_commands)
    _module(monkeypatch, "cmd_plugin_two", register_commands=register_commands_too)
    _patch(monkeypatch, [FakeEntryPoint("cmds", "cmd_plugin", dist="dist-one"),
                         FakeEntryPoint("more", "cmd_plugin_two", dist="dist-two")])
    app = create_app()
    runner = CliRunner()
    result = runner.invoke(app, ["hello"])
    assert result.exit_code == 0 and "hello from plugin" in result.output
    panels = {c.name: c.rich_help_panel for c in app.registered_commands}
    assert panels["hello"] == panels["bye"] == "Plugins" and panels["info"] != "Plugins"
    info = runner.invoke(app, ["info", "missing.safetensors"]).output
    assert "hijacked" not in info and "tried to add" not in info  # said by list-plugins only
    listed = runner.invoke(create_app(), ["list-plugins", "--json"])
    import json

    data = json.loads(listed.stdout)
    owners = {c["command"]: (c["distribution"], c["status"]) for c in data["commands"]}
    assert owners == {"hello": ("dist-one", "ok"), "info": ("dist-one", "refused"),
                      "bye": ("dist-two", "ok")}  # each blamed on its own plugin
    assert data["warnings"] == ["plugin 'cmds' (dist-one) tried to add command 'info', which "
                                "already exists; it was not added"]
    hooks = {d["distribution"]: d["hooks"] for d in data["distributions"]}
    assert hooks == {"dist-one": ["register_commands"], "dist-two": ["register_commands"]}
    table = runner.invoke(create_app(), ["list-plugins"]).output
    assert "commands added by plugins" in table and "bye" in table and "distributions" in table


def _recorder(monkeypatch, tmp_path, seen):
    """A third-party source with typed options that records what it receives."""
    from pydantic import Field

    from engine_helpers import tiny_dcgan_file
    from unlearn_cli.api import ComponentOptions

    class RecorderOptions(ComponentOptions):
        blur: int = Field(1, ge=0, description="blur radius")
        mode: str = "hard"
        strict: bool = False
        pattern: str = "x"

    def collect(context):
        seen.update({k: context.options[k] for k in RecorderOptions.model_fields})
        raise UnlearnError("recorded")

    @hookimpl
    def register_sources():
        return [ComponentSpec("recorder", "records its options", "options_plugin:collect",
                              options_model=RecorderOptions)]

    _module(monkeypatch, "options_plugin", register_sources=register_sources, collect=collect)
    _patch(monkeypatch, list(plugins._entry_points()) + [FakeEntryPoint("recorder", "options_plugin")])
    return tiny_dcgan_file(tmp_path / "g.safetensors")


def test_typed_options_reach_a_third_party_source(monkeypatch, tmp_path):
    """-o KEY=VALUE, -o KIND.KEY=VALUE, the older --plugin-option and the YAML's
    source_options/plugin_options arrive, merged and typed by the source's model, in its
    context.options; a flag overrides the file's value for its key only, and text stays text."""
    seen = {}
    ckpt = _recorder(monkeypatch, tmp_path, seen)
    config = tmp_path / "run.yaml"
    config.write_text("plugin_options:\n  blur: 2\nsource_options:\n  mode: soft\n")
    result = CliRunner().invoke(create_app(), [
        "run", "--ckpt", str(ckpt), "--source", "recorder", "--config", str(config),
        "--plugin-option", "blur=3", "-o", "strict=true", "-o", "source.pattern=00001",
        "--device", "cpu", "--out", str(tmp_path / "out")])
    assert result.exit_code == 1 and "recorded" in result.output
    assert seen == {"blur": 3, "mode": "soft", "strict": True, "pattern": "00001"}
    assert not (tmp_path / "out").exists()  # nothing half-written


@pytest.mark.parametrize("flag, expected", [
    (["-o", "blurr=3"], "no chosen component has an option 'blurr'"),
    (["-o", "source.blurr=3"], "source 'recorder' (sample-dist 1.2.3) has no option 'blurr'; "
                               "its options: blur, mode, strict, pattern"),
    (["-o", "blur=soft"], "source 'recorder' (sample-dist 1.2.3): option 'blur' must be a valid integer"),
    (["--max-negatives", "3"], "source 'recorder' (sample-dist 1.2.3) has no option 'max_negatives'"),
])
def test_a_wrong_option_is_refused_before_anything_loads(monkeypatch, tmp_path, flag, expected):
    seen = {}
    ckpt = _recorder(monkeypatch, tmp_path, seen)
    result = CliRunner().invoke(create_app(), ["run", "--ckpt", str(ckpt), "--source", "recorder",
                                               *flag, "--out", str(tmp_path / "out")])
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 1 and len(lines) == 1 and expected in lines[0], result.output
    assert not seen and not (tmp_path / "out").exists()


@pytest.mark.parametrize("item", ["blur", "=3", "a.b=1"])
def test_bad_plugin_option_is_one_line(item, tmp_path):
    result = CliRunner().invoke(create_app(), ["run", "--plugin-option", item, "--out", str(tmp_path / "o")])
    assert result.exit_code != 0
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "--plugin-option takes KEY=VALUE or KIND.KEY=VALUE" in lines[0]
    assert not (tmp_path / "o").exists()


def test_runs_record_which_plugin_versions_made_them(tmp_path):
    """metrics.json, manifest.json and each model file name every component's distribution
    and version (provenance), and `info` shows them."""
    import json

    from engine_helpers import negative_folder, tiny_dcgan_file
    from unlearn_cli.io.modelfile import read_header

    out = tmp_path / "run"
    result = CliRunner().invoke(create_app(), [
        "run", "--ckpt", str(tiny_dcgan_file(tmp_path / "g.safetensors")),
        "--neg", str(negative_folder(tmp_path / "neg")), "--repulsion", "gan-unlearn:exp",
        "--adapt-iters", "2", "--unlearn-iters", "2", "--candidates", "8", "--batch", "4",
        "--quiet", "--device", "cpu", "--out", str(out)])
    assert result.exit_code == 0, result.output
    from unlearn_cli import __version__

    builtin = {"distribution": "gan-unlearn", "version": __version__}
    want = {"gan": {"name": "dcgan", **builtin}, "source": {"name": "folder", **builtin},
            "repulsion": {"name": "exp", **builtin},
            "method": {"name": "adapt-then-unlearn", **builtin}}
    assert json.loads((out / "metrics.json").read_text())["plugins"] == want
    assert json.loads((out / "manifest.json").read_text())["plugins"] == want
    assert read_header(out / "unlearned.safetensors").plugins == want
    assert read_header(out / "adapted.safetensors").plugins == want
    shown = CliRunner().invoke(create_app(), ["info", str(out / "unlearned.safetensors")]).output
    assert "plugin repulsion" in shown and f"exp (gan-unlearn {__version__})" in shown


def test_pytest_header_names_plugin_versions(monkeypatch):
    from unlearn_cli import __version__, testing

    _sample_repulsion(monkeypatch)
    _patch(monkeypatch, list(plugins._entry_points()) + [FakeEntryPoint("sample", "sample_plugin")])
    header = testing.pytest_report_header(None)
    assert header.startswith(f"gan-unlearn plugins: gan-unlearn-{__version__}, ")
    assert "sample-dist-1.2.3" in header
