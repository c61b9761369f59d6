"""unlearn_cli.testing: the built-in plugins pass the conformance checks, wrong plugins are caught."""
import textwrap

import pytest
import torch

from engine_helpers import negative_folder
from unlearn_cli.api import ComponentSpec, SampleSets, UnlearnError
from unlearn_cli.plugins import call_hook
from unlearn_cli.testing import (check_classifier, check_gan_plugin, check_plugin_module,
                                 check_repulsion, check_source)
from unlearn_cli_plugins.dcgan.model import DCGANPlugin

TINY_DCGAN = {"resolution": 8, "z_dim": 8, "channels": 8}
TINY_SG2 = {"resolution": 8, "z_dim": 8, "w_dim": 8, "mapping_layers": 1, "channel_base": 64,
            "channel_max": 8}


def test_pytest_plugin_is_registered(pytestconfig):
    assert pytestconfig.pluginmanager.has_plugin("gan_unlearn"), \
        "unlearn_cli.testing is not loaded as a pytest plugin: reinstall gan-unlearn (pytest11 entry point)"


# --------------------------------------------------------------------------- built-ins pass
@pytest.mark.parametrize("hook, kind, expected", [
    ("register_gans", "gan", {"dcgan", "stylegan2"}),
    ("register_sources", "source", {"folder", "classifier", "manual"}),
    ("register_repulsions", "repulsion", {"l2", "exp", "inverse"}),
    ("register_classifiers", "classifier", {"digits", "digits-judge", "torchscript"}),
    ("register_methods", "method", {"adapt-then-unlearn", "finetune", "extrapolation"}),
    ("register_datasets", "dataset", {"digits"}),
])
def test_builtin_hooks_offer_their_components(gan_unlearn_registry, hook, kind, expected):
    offered = {spec.name for info, specs in call_hook(gan_unlearn_registry, hook)
               if info.dist == "gan-unlearn" for spec in specs}
    assert expected <= offered
    assert expected <= set(gan_unlearn_registry.names(kind))


@pytest.mark.parametrize("module", ["repulsion", "stylegan2", "digits", "classifiers", "sources",
                                    "dcgan", "methods"])
def test_builtin_plugin_modules_conform(module):
    check_plugin_module(f"unlearn_cli_plugins.{module}")


@pytest.mark.parametrize("name", ["l2", "exp", "inverse"])
def test_builtin_repulsions_conform(gan_unlearn_registry, name):
    check_repulsion(gan_unlearn_registry.load("repulsion", name))


def test_dcgan_conforms(gan_unlearn_registry):
    check_gan_plugin(gan_unlearn_registry.load("gan", "dcgan"), TINY_DCGAN)


def test_stylegan2_conforms(gan_unlearn_registry):
    try:
        plugin = gan_unlearn_registry.load("gan", "stylegan2")
    except UnlearnError as exc:
        pytest.skip(f"stylegan2 plugin does not load here: {exc}")
    # an untrained StyleGAN2 has no output squashing, so its images are not confined to [-1, 1]
    check_gan_plugin(plugin, TINY_SG2, check_range=False)


@pytest.mark.parametrize("name", ["digits", "digits-judge"])
def test_bundled_classifiers_conform(gan_unlearn_registry, name):
    check_classifier(gan_unlearn_registry.load("classifier", name)(None, "cpu"))


def test_folder_and_manual_sources_conform(gan_unlearn_registry, gan_unlearn_source_context, tmp_path):
    neg = negative_folder(tmp_path / "neg", n=3)
    folder = gan_unlearn_registry.load("source", "folder")
    sets = check_source(folder, gan_unlearn_source_context(options={"neg": str(neg), "candidates": 5}))
    assert (len(sets.negatives), len(sets.positives)) == (3, 5)
    manual = gan_unlearn_registry.load("source", "manual")
    check_source(manual, gan_unlearn_source_context(options={"pick": "1,2", "candidates": 6}))
    sets = check_source(manual, gan_unlearn_source_context(options={"candidates": 6}, answers=["3"]))
    assert len(sets.negatives) == 1


def test_cli_fixtures(gan_unlearn_cli, gan_unlearn_tiny_gan):
    assert "dcgan" in gan_unlearn_cli("info", gan_unlearn_tiny_gan).output
    with pytest.raises(AssertionError, match="exited 1, expected 0"):
        gan_unlearn_cli("info", gan_unlearn_tiny_gan.parent / "missing.safetensors")


# --------------------------------------------------------------------------- wrong ones caught
@pytest.mark.parametrize("factory, message", [
    (lambda **o: (lambda d: d), "decrease"),
    (lambda **o: (lambda d: 1.0 / d), "not finite at d=0"),
    (lambda **o: (lambda d: torch.tensor(-d.item())), "carries no gradient"),
    (lambda **o: (lambda d: (d - 2).square()), "decrease strictly"),
    (lambda **o: (lambda d: -d.detach() + 0 * d), "must be negative"),
    (lambda: (lambda d: -d), "accept them, or \\*\\*options"),
    (lambda **o: (lambda d: torch.stack([-d, -d])), "scalar tensor"),
])
def test_wrong_repulsions_are_caught(factory, message):
    with pytest.raises(AssertionError, match=message):
        check_repulsion(factory)


class _Wrapped(torch.nn.Module):
    def __init__(self, inner, fn):
        super().__init__()
        self.inner, self.fn = inner, fn
        for attr in ("z_dim", "img_resolution", "img_channels"):
            if hasattr(inner, attr):
                setattr(self, attr, getattr(inner, attr))

    def forward(self, x, **kwargs):
        return self.fn(self.inner(x, **kwargs))


def _dcgan_variant(G_fn=None, D_fn=None, **overrides):
    class Variant(DCGANPlugin):
        def build(self, config):
            G, D = super().build(config)
            return (_Wrapped(G, G_fn) if G_fn else G), (_Wrapped(D, D_fn) if D_fn else D)

    for name, value in overrides.items():
        setattr(Variant, name, value)
    return Variant()


class _Unsaved(torch.nn.Module):  # state kept in a plain attribute: lost by a round trip
    def __init__(self, G):
        super().__init__()
        self.G, self.shift = G, torch.rand(1)
        self.z_dim, self.img_resolution, self.img_channels = G.z_dim, G.img_resolution, G.img_channels

    def forward(self, z, **kwargs):
        return (self.G(z, **kwargs) * 0.5 + self.shift * 0.5).clamp(-1, 1)


class _UnsavedPlugin(DCGANPlugin):
    def build(self, config):
        G, D = super().build(config)
        return _Unsaved(G), D


@pytest.mark.parametrize("plugin, message", [
    (_dcgan_variant(G_fn=lambda x: x[..., :-1, :-1]), "must return \\[N, img_channels"),
    (_dcgan_variant(G_fn=lambda x: x + 2), "in \\[-1, 1\\]"),
    # no final tanh: inside [-1, 1] at initialisation, unbounded once weights or latents grow
    (_dcgan_variant(G_fn=lambda x: torch.atanh(x.clamp(-0.999, 0.999)) * 0.3), "has no output bound"),
    (_dcgan_variant(G_fn=lambda x: x + torch.randn_like(x) * 1e-3), "deterministic"),
    (_dcgan_variant(D_fn=lambda x: x[:, None]), "logits of shape \\[N\\]"),
    (_dcgan_variant(G_fn=lambda x: x.detach()), "no gradient to G"),
    (_UnsavedPlugin(), "round trip G gives different images"),
    (_dcgan_variant(validate_config=lambda self, c: {**c, "n": c.get("n", 0) + 1}), "idempotent"),
    (_dcgan_variant(can_import=lambda self, path: True), "can_import"),
    (_dcgan_variant(generate_for_training=lambda self, G, z: G(z)[:1]), "generate_for_training"),
    # logits that are not the per-batch ones (here: in the wrong order)
    (_dcgan_variant(discriminate_chunks=lambda self, D, x, k: D(x.flip(0))), "own statistics"),
    (_dcgan_variant(discriminate_chunks=lambda self, D, x, k: D(x)[:1]), "shaped"),
    (_dcgan_variant(name="DC GAN"), "lower-case"),
])
def test_wrong_gan_plugins_are_caught(plugin, message):
    with pytest.raises(AssertionError, match=message):
        check_gan_plugin(plugin, TINY_DCGAN)


def test_gan_plugin_missing_members_is_caught():
    with pytest.raises(AssertionError, match="lacks 'validate_config'"):
        check_gan_plugin(type("Half", (), {"name": "half", "default_config": dict})())


def _bad_source(negatives, positives, sets_type=SampleSets, stats=None):
    return lambda context: sets_type(negatives, positives, "note", stats or {})


@pytest.mark.parametrize("collect, message", [
    (_bad_source(torch.zeros(2, 1, 4, 4), torch.zeros(2, 1, 8, 8)), "negatives must be shaped"),
    (_bad_source(torch.zeros(2, 1, 8, 8), torch.full((2, 1, 8, 8), 2.0)), "positives must hold finite values in \\[-1, 1\\]"),
    (_bad_source(torch.zeros(0, 1, 8, 8), torch.zeros(2, 1, 8, 8)), "negatives is empty"),
    (_bad_source(torch.zeros(2, 1, 8, 8), torch.zeros(2, 1, 8, 8), stats={"x": object()}), "JSON"),
    (lambda context: (torch.zeros(2, 1, 8, 8), torch.zeros(2, 1, 8, 8)), "must return unlearn_cli.api.SampleSets"),
])
def test_wrong_sources_are_caught(gan_unlearn_source_context, collect, message):
    with pytest.raises(AssertionError, match=message):
        check_source(collect, gan_unlearn_source_context())


class _FakeClassifier:
    classes = ["a", "b", "c"]

    def __init__(self, probs=None, features=None):
        self._probs = probs or (lambda x: torch.full((len(x), 3), 1 / 3))
        self._features = features or (lambda x: torch.zeros(len(x), 5))

    def probs(self, images):
        return self._probs(images)

    def features(self, images):
        return self._features(images)


@pytest.mark.parametrize("clf, message", [
    (_FakeClassifier(probs=lambda x: torch.ones(len(x), 3)), "sum to 1"),
    (_FakeClassifier(probs=lambda x: torch.full((len(x), 2), 0.5)), "probs must be \\[N, K\\]"),
    (_FakeClassifier(features=lambda x: torch.zeros(len(x), 5, 1)), "features must be 2-D"),
    (_FakeClassifier(probs=lambda x: torch.rand(len(x), 3).softmax(1)), "deterministic"),
    (type("OneClass", (_FakeClassifier,), {"classes": ["only"]})(), "at least two distinct"),
])
def test_wrong_classifiers_are_caught(clf, message):
    check_classifier(_FakeClassifier())
    with pytest.raises(AssertionError, match=message):
        check_classifier(clf)


@pytest.mark.parametrize("source, message", [
    ("@hookimpl\ndef register_repulsion():\n    return []", "not a gan-unlearn hook"),
    ("def register_repulsions():\n    return []", "lacks @unlearn_cli.hookimpl"),
    ("@hookimpl\ndef register_repulsions():\n    return [ComponentSpec('My Rep', 's', 'math:exp')]", "lower-case"),
    ("@hookimpl\ndef register_repulsions():\n    return [ComponentSpec('r', 's', 'no_such_mod_q:f')]", "could not be loaded"),
    ("@hookimpl\ndef register_repulsions():\n    return ComponentSpec('r', 's', 'math:exp')", "must return a list"),
    ("import torch\n@hookimpl\ndef register_repulsions():\n    return [ComponentSpec('r', 's', 'math:exp')]", "imports torch"),
])
def test_wrong_plugin_modules_are_caught(tmp_path, monkeypatch, source, message):
    header = "from unlearn_cli import hookimpl\nfrom unlearn_cli.api import ComponentSpec\n"
    name = f"wrong_plugin_{abs(hash(source))}"
    (tmp_path / f"{name}.py").write_text(header + textwrap.dedent(source) + "\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(AssertionError, match=message):
        check_plugin_module(name)

