"""The bundled digits classifiers: accuracy, input adaptation, the interface, bad files."""
import pytest
import torch

from unlearn_cli.api import UnlearnError
from unlearn_cli.plugins import get_registry
from unlearn_cli_plugins.classifiers import base
from unlearn_cli_plugins.digits import classifier as digits
from unlearn_cli_plugins.digits.data import split


@pytest.fixture(scope="module")
def heldout():
    return split("heldout", 16, 1)


@pytest.mark.parametrize("kind", ["digits", "digits-judge"])
def test_bundled_reaches_97_percent_on_heldout(kind, heldout):
    model = get_registry().load("classifier", kind)(None, "cpu")
    images, labels = heldout
    with torch.no_grad():
        acc = (model.logits(images).argmax(1) == labels).float().mean().item()
    assert acc >= 0.97
    assert model.classes == [str(i) for i in range(10)]
    assert (model.resolution, model.channels) == (16, 1)
    assert not model.training and not any(p.requires_grad for p in model.parameters())


@pytest.mark.parametrize("kind", ["digits", "digits-judge"])
def test_weight_files_are_small(kind):
    assert digits.bundled_path(kind).stat().st_size < 1_000_000


def test_32px_rgb_inputs_are_adapted(heldout):
    model = digits.load()
    images, labels = heldout
    rgb32, _ = split("heldout", 32, 3)
    with torch.no_grad():
        logits, feats, probs = model.logits(rgb32), model.features(rgb32), model.probs(rgb32)
    assert logits.shape == (300, 10) and feats.shape[0] == 300 and feats.dim() == 2
    assert torch.allclose(probs.sum(1), torch.ones(300))
    assert (logits.argmax(1) == labels).float().mean() >= 0.97


def test_adapt_images_channels_and_size():
    grey = torch.rand(2, 1, 8, 8) * 2 - 1
    rgb = base.adapt_images(grey, 16, 3)
    assert rgb.shape == (2, 3, 16, 16) and torch.equal(rgb[:, 0], rgb[:, 1])
    back = base.adapt_images(torch.stack([grey[:, 0], -grey[:, 0], grey[:, 0]], 1), None, 1)
    assert torch.allclose(back, grey / 3)  # RGB -> grey is the channel mean
    with pytest.raises(UnlearnError):
        base.adapt_images(torch.zeros(2, 4, 8, 8), 16, 1)


def test_class_index():
    model = digits.load()
    assert model.class_index(8) == 8 and model.class_index("3") == 3
    with pytest.raises(UnlearnError, match="0, 1, 2"):
        model.class_index("cat")


def test_the_two_bundled_models_differ():
    a, b = digits.load(), digits.load_judge()
    assert type(a) is not type(b) and a.info["train"]["seed"] != b.info["train"]["seed"]


def test_missing_file(tmp_path):
    with pytest.raises(UnlearnError, match="not found"):
        digits.load(tmp_path / "nope.safetensors")


def test_corrupt_file(tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00garbage")
    with pytest.raises(UnlearnError, match="not a readable"):
        digits.load(bad)


def test_foreign_safetensors_file(tmp_path):
    from safetensors.torch import save_file

    other = tmp_path / "other.safetensors"
    save_file({"w": torch.zeros(2)}, str(other))
    with pytest.raises(UnlearnError, match="not a gan-unlearn classifier"):
        digits.load(other)


def test_round_trip_and_mismatched_weights(tmp_path):
    model = digits.load_judge()
    path = tmp_path / "copy.safetensors"
    digits.save_file(model, model.info, path)
    again = digits.load_file(path)
    x = torch.rand(4, 1, 16, 16) * 2 - 1
    assert torch.equal(model.logits(x), again.logits(x))
    info = dict(model.info, config={"hidden": [64], "dropout": 0.0})
    digits.save_file(model, info, path)  # weights no longer fit the recorded architecture
    with pytest.raises(UnlearnError, match="do not match"):
        digits.load_file(path)
