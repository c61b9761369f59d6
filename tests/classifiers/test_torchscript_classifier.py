"""Classifier kind `torchscript`: round trip with tiny scripted models, sidecar classes, bad files."""
import pytest
import torch
from torch import nn

from unlearn_cli.api import UnlearnError
from unlearn_cli.plugins import get_registry
from unlearn_cli_plugins.classifiers import torchscript

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit:DeprecationWarning")


class WithFeatures(nn.Module):
    def __init__(self):
        super().__init__()
        self.resolution, self.channels = 8, 1
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(64, 5), nn.ReLU())
        self.head = nn.Linear(5, 3)

    def forward(self, x):
        return self.head(self.body(x))

    @torch.jit.export
    def features(self, x):
        return self.body(x)


class Bare(nn.Module):
    def forward(self, x):
        return x.mean(dim=(2, 3))  # logits = channel means: 1 or 3 "classes"


def _save(module, path):
    torch.jit.save(torch.jit.script(module), str(path))
    return path


def test_round_trip_with_attributes_and_features(tmp_path):
    eager = WithFeatures().eval()
    path = _save(eager, tmp_path / "m.pt")
    model = get_registry().load("classifier", "torchscript")(str(path), "cpu")
    assert model.classes == ["0", "1", "2"] and (model.resolution, model.channels) == (8, 1)
    x = torch.rand(4, 3, 32, 32) * 2 - 1  # resized and converted to 1 channel on the way in
    prepared = model.prepare(x)
    assert prepared.shape == (4, 1, 8, 8)
    assert torch.allclose(model.logits(x), eager(prepared))
    assert model.features(x).shape == (4, 5)
    assert torch.allclose(model.probs(x).sum(1), torch.ones(4))


def test_sidecar_classes_and_logits_as_features(tmp_path):
    path = _save(Bare(), tmp_path / "bare.pt")
    (tmp_path / "bare.pt.classes.txt").write_text("red\ngreen\nblue\n")
    model = torchscript.load(path)
    assert model.classes == ["red", "green", "blue"] and model.resolution is None
    x = torch.rand(2, 3, 5, 5)
    assert torch.equal(model.features(x), model.logits(x))
    assert model.class_index("blue") == 2


def test_classes_unknown_without_attributes_or_sidecar(tmp_path):
    with pytest.raises(UnlearnError, match="classes.txt"):
        torchscript.load(_save(Bare(), tmp_path / "bare.pt"))


def test_path_required_missing_and_corrupt(tmp_path):
    with pytest.raises(UnlearnError, match="needs a file"):
        torchscript.load(None)
    with pytest.raises(UnlearnError, match="not found"):
        torchscript.load(tmp_path / "missing.pt")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"this is not a zip archive")
    with pytest.raises(UnlearnError, match="not a loadable TorchScript"):
        torchscript.load(bad)
