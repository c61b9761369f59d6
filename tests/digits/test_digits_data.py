"""The digits dataset plugin: shapes, value range, labels, the fixed split, lazy imports."""
import subprocess
import sys

import pytest
import torch

from unlearn_cli.api import UnlearnError
from unlearn_cli.plugins import get_registry
from unlearn_cli_plugins.digits import data


@pytest.mark.parametrize("resolution,channels", [(8, 1), (16, 1), (32, 3)])
def test_load_shapes_range_labels(resolution, channels):
    images, labels = data.load(resolution, channels)
    assert images.shape == (1797, channels, resolution, resolution)
    assert images.dtype == torch.float32 and labels.dtype == torch.int64
    assert images.min() == -1.0 and images.max() == 1.0
    assert labels.shape == (1797,) and torch.equal(labels.unique(), torch.arange(10))
    if channels == 3:
        assert torch.equal(images[:, 0], images[:, 2])


def test_native_resolution_is_the_raw_data():
    from sklearn.datasets import load_digits

    images, _ = data.load(8, 1)
    raw = torch.from_numpy(load_digits().images).float()
    assert torch.allclose(images[:, 0], raw / 8 - 1)


def test_upsampling_is_bilinear_align_corners_false():
    small, _ = data.load(8, 1)
    big, _ = data.load(16, 1)
    expected = torch.nn.functional.interpolate(small[:5], size=16, mode="bilinear", align_corners=False)
    assert torch.allclose(big[:5], expected)


def test_split_is_fixed_stratified_and_disjoint():
    train_idx, held_idx = data.split_indices()
    assert len(train_idx) == 1497 and len(held_idx) == 300
    assert not set(train_idx) & set(held_idx)
    assert list(held_idx[:5]) == [3, 7, 13, 19, 36]  # the documented split never changes
    x, y = data.split("heldout", 16, 1)
    assert x.shape == (300, 1, 16, 16) and torch.equal(y.bincount(), torch.full((10,), 30))
    x, y = data.split("train", 32, 3)
    assert x.shape == (1497, 3, 32, 32) and len(y) == 1497


@pytest.mark.parametrize("kwargs", [{"resolution": 4}, {"resolution": 16.5}, {"channels": 2}])
def test_bad_arguments_raise_unlearn_error(kwargs):
    with pytest.raises(UnlearnError):
        data.load(**kwargs)


def test_bad_split_part():
    with pytest.raises(UnlearnError, match="heldout"):
        data.split("test")


def test_registered_as_dataset():
    load = get_registry().load("dataset", "digits")
    images, labels = load(16, 1)
    assert images.shape == (1797, 1, 16, 16)


def test_plugin_modules_import_without_torch_or_sklearn():
    code = ("import sys, unlearn_cli_plugins.digits, unlearn_cli_plugins.classifiers; "
            "bad = [m for m in ('torch', 'sklearn') if m in sys.modules]; assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)
