"""Every refusal of a component's options (issue 14.1): one line naming the component and its
distribution, exit 1, nothing written, quoted in docs/errors.md ("Component options")."""
from __future__ import annotations

import pytest

from engine_helpers import negative_folder, tiny_dcgan_file
from test_bad_inputs import FAST, _documented, _invoke, check_one_error


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("options")
    return tiny_dcgan_file(root / "pre.safetensors"), negative_folder(root / "neg"), root


CASES = [
    ("no-equals", ["-o", "blur"], "--option takes KEY=VALUE or KIND.KEY=VALUE (KIND one of source, repulsion, method, classifier)"),
    ("bad-kind", ["-o", "a.b=1"], "--option takes KEY=VALUE or KIND.KEY=VALUE"),
    ("unknown-key", ["-o", "threshhold=0.5"], "no chosen component has an option 'threshhold'; options: source 'folder' (gan-unlearn 0.1.0): "),
    ("unknown-key-of-kind", ["-o", "source.blurr=3"], "source 'folder' (gan-unlearn 0.1.0) has no option 'blurr'; its options: "),
    ("alias-not-taken", ["--max-negatives", "3"], "source 'folder' (gan-unlearn 0.1.0) has no option 'max_negatives'"),
    ("takes-none", ["--repulsion", "l2", "--alpha", "2"], "repulsion 'l2' (gan-unlearn 0.1.0) takes no options, got 'alpha'"),
    ("wrong-type", ["-o", "alpha=fast"], "repulsion 'exp' (gan-unlearn 0.1.0): option 'alpha' must be a valid number"),
    ("max-negatives-0", ["--source", "classifier", "--classifier", "digits", "--max-negatives", "0"],
     "option 'max_negatives' must be greater than or equal to 1 (got 0)"),
    ("classifier-options-without-classifier", ["--classifier-path", "x.pt"],
     "classifier options are given (path) but no classifier"),
    # contradictory flags are refused, not resolved silently (issue 19.23)
    ("neg-with-another-source", ["--source", "classifier", "--classifier", "digits"],
     "--neg is the input of source 'folder', but --source is 'classifier', which would ignore it: drop --neg or --source"),
]
WITHOUT_NEG = {"max-negatives-0"}  # cases about another source: --neg would contradict it


@pytest.mark.parametrize("name, extra, fragment", CASES, ids=[c[0] for c in CASES])
def test_option_refusals(files, name, extra, fragment):
    ckpt, neg, root = files
    out = root / f"out-{name}"
    result = _invoke("run", "--ckpt", ckpt, *([] if name in WITHOUT_NEG else ["--neg", neg]), "--out", out,
                     *[a for a in FAST if a not in ("--candidates", "32")], *extra)
    check_one_error(result, 1, fragment)
    assert not out.exists()  # refused before the run folder was made
    _documented(fragment.split(" (gan-unlearn")[0].split("'folder'")[0])  # (docs show other components)


def test_options_not_a_mapping(files):
    ckpt, neg, root = files
    config = root / "bad.yaml"
    config.write_text("source_options: 3\n")
    check_one_error(_invoke("run", "--ckpt", ckpt, "--config", config, "--out", root / "o"), 1,
                    "config key 'source_options' must be a mapping of option: value")
    _documented("config key 'source_options' must be a mapping of option: value")


def test_yaml_keeps_older_keys_working(files):
    """An older config file's `threshold: 0.9` (a run key then) sets the source's option; at its
    old default it is ignored for a source that has no such option (a saved config.yaml)."""
    from unlearn_cli.config import RunConfig, resolve

    ckpt, neg, root = files
    config = root / "old.yaml"
    config.write_text("threshold: 0.5\nalpha: 2\nmax_negatives: 128\nplugin_options: {}\n")
    resolved = resolve(RunConfig, config, {"neg": str(neg)})
    assert resolved.source == "folder" and resolved.source_options["threshold"] == 0.5
    assert resolved.repulsion_options == {"alpha": 2.0}
    assert "max_negatives" not in resolved.source_options


def test_help_and_list_plugins_show_options():
    """run --help lists the installed components of each kind with their option defaults;
    list-plugins --json carries every run component's options (key, type, default)."""
    import json

    help_text = _invoke("run", "--help").output
    tail = help_text[help_text.index("Installed components"):]
    assert "classifier: threshold=0.9" in tail and "exp: alpha=1.0" in tail and "l2: no options" in tail
    assert "Stage 1 steps. (default: 300)" in " ".join(help_text.split())  # run keys' defaults too
    data = json.loads(_invoke("list-plugins", "--json").stdout)
    options = {c["name"]: c["options"] for c in data["components"] if c["kind"] == "source"}
    described = {o["key"]: o["description"] for o in options["classifier"]}
    assert {"key": "max_negatives", "type": "int", "default": 128, "required": False,
            "description": described["max_negatives"]} in options["classifier"]
    table = _invoke("list-plugins", "--options").output
    assert "component options (-o KEY=VALUE" in table  # (cells fold at 80 columns: --json is checked above)


@pytest.mark.parametrize("extra, shown", [
    (["-o", "alpha=3"], "--alpha (saved 1.0, given 3.0)"),
    (["-o", "source.threshold=0.5"], "--threshold (saved 0.9, given 0.5)"),
    (["--max-negatives", "7"], "--max-negatives (saved 128, given 7)"),
])
def test_resume_compares_component_options(files, extra, shown):
    """--resume takes the saved options: one given as well (by -o, KIND.KEY or an older flag)
    that differs from config.yaml is named, before anything loads."""
    from unlearn_cli.config import RunConfig, to_yaml

    ckpt, neg, root = files
    folder = root / f"resumed-{extra[-1].replace('=', '-')}"
    folder.mkdir()
    (folder / "config.yaml").write_text(to_yaml(RunConfig(ckpt=str(ckpt))))
    result = _invoke("run", "--resume", folder, *extra)
    check_one_error(result, 1, f"options differ from its config.yaml: {shown}")
    assert sorted(p.name for p in folder.iterdir()) == ["config.yaml"]


def test_source_context_fixture_fills_a_sources_defaults(gan_unlearn_source_context):
    """The testing fixture hands a source what a run would: its options model's defaults."""
    manual = gan_unlearn_source_context(source="manual", options={"pick": "1"})
    assert (manual.options["ui"], manual.options["pick"], manual.options["candidates"]) == ("auto", "1", 2000)
    default = gan_unlearn_source_context()
    assert default.options["max_negatives"] == 128 and default.options["source"] == "classifier"
