"""Tests of the example plugin: conformance checks, then a tiny real run through the CLI.

The fixtures (gan_unlearn_registry, gan_unlearn_cli, gan_unlearn_tiny_gan,
gan_unlearn_source_context) come from gan-unlearn's pytest plugin, unlearn_cli.testing.
"""
import json

import pytest
from PIL import Image

from gan_unlearn_example.repulsion import softplus
from gan_unlearn_example.source import collect
from unlearn_cli.api import UnlearnError
from unlearn_cli.testing import check_plugin_module, check_repulsion, check_source


@pytest.fixture
def neg(tmp_path):
    """Three small greyscale images: what to forget."""
    folder = tmp_path / "neg"
    folder.mkdir()
    for i in range(3):
        Image.new("L", (12, 12), color=60 * i).save(folder / f"{i}.png")
    return folder


def test_plugin_module_conforms():
    found = check_plugin_module("gan_unlearn_example")
    assert [s.name for s in found["repulsion"]] == ["softplus"]
    assert [s.name for s in found["source"]] == ["augmented"]


def test_installed_and_listed(gan_unlearn_registry):
    assert "softplus" in gan_unlearn_registry.names("repulsion")
    assert "augmented" in gan_unlearn_registry.names("source")
    info = next(p for p in gan_unlearn_registry.plugins if p.dist == "gan-unlearn-example")
    assert (info.version, info.status) == ("0.1.0", "ok")


def test_softplus_conforms():
    check_repulsion(softplus, {"alpha": 1.0})
    check_repulsion(softplus, {"alpha": 5.0})


def test_softplus_refuses_a_bad_alpha():
    with pytest.raises(UnlearnError, match="alpha > 0"):
        softplus(alpha=0)


def test_augmented_source_conforms(gan_unlearn_source_context, neg):
    context = gan_unlearn_source_context(options={"neg": str(neg), "max_negatives": 8, "candidates": 5})
    sets = check_source(collect, context)
    assert (len(sets.negatives), len(sets.positives)) == (8, 5)
    assert sets.stats == {"folder": str(neg), "originals": 3, "augmented": 5}


def test_augmented_source_needs_neg(gan_unlearn_source_context):
    with pytest.raises(UnlearnError, match="--neg DIR"):
        collect(gan_unlearn_source_context(options={"neg": None}))


def test_run_uses_both_components(gan_unlearn_cli, gan_unlearn_tiny_gan, neg, tmp_path):
    out = tmp_path / "run"
    gan_unlearn_cli("run", "--gan", "dcgan", "--ckpt", gan_unlearn_tiny_gan, "--neg", neg,
                    "--source", "augmented", "--repulsion", "softplus", "--max-negatives", 6,
                    "--candidates", 8, "--adapt-iters", 2, "--unlearn-iters", 2, "--batch", 4,
                    "--classifier", "", "--device", "cpu", "--quiet", "--out", out)
    metrics = json.loads((out / "metrics.json").read_text())
    assert (metrics["negatives"], metrics["source_stats"]["augmented"]) == (6, 3)
    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert any("repulsion" in record for record in log if record["stage"] == "unlearn")
    assert (out / "unlearned.safetensors").is_file()


def test_options_are_checked_before_anything_loads(gan_unlearn_cli, gan_unlearn_tiny_gan, neg, tmp_path):
    out = tmp_path / "run"
    result = gan_unlearn_cli("run", "--ckpt", gan_unlearn_tiny_gan, "--neg", neg, "--source",
                             "augmented", "-o", "max_negative=6", "--out", out, exit_code=1)
    assert "no chosen component has an option 'max_negative'" in result.output
    result = gan_unlearn_cli("run", "--ckpt", gan_unlearn_tiny_gan, "--neg", neg, "--source",
                             "augmented", "--repulsion", "softplus", "-o", "alpha=0", "--out", out,
                             exit_code=1)
    assert "repulsion 'softplus' (gan-unlearn-example 0.1.0): option 'alpha' must be greater than 0" in result.output
    assert not out.exists()  # refused before the run folder was made


def test_repulsion_table_command(gan_unlearn_cli):
    result = gan_unlearn_cli("repulsion-table", "softplus", "exp")
    lines = result.output.splitlines()
    assert lines[0].split() == ["d", "softplus", "exp"]
    assert lines[1].split()[:2] == ["0.00", "0.6931"]  # log 2 at d = 0
    assert "Plugins" in gan_unlearn_cli("--help").output
