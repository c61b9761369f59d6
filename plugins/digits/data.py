"""scikit-learn's handwritten digits as images in [-1, 1], with a fixed train/held-out split.

The source is ``sklearn.datasets.load_digits``: 1797 images, 8x8, integer values 0..16, shipped
inside scikit-learn (nothing is downloaded). ``load`` maps values to [-1, 1] (v / 8 - 1, so 0 is
black background = -1 and 16 is full ink = +1) and upsamples with
``torch.nn.functional.interpolate(mode="bilinear", align_corners=False)``: 8 px -> 16 or 32 px.

The split is stratified and seeded: for each digit, its indices (in scikit-learn's order) are
permuted with ``numpy.random.RandomState(SPLIT_SEED)`` and the first ``HELDOUT_PER_CLASS`` go to
the held-out part. That gives 1497 train / 300 held-out images (30 of each digit), the same on
every machine (RandomState's stream is frozen by NumPy's compatibility policy).
"""
from __future__ import annotations

import numbers
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F

from unlearn_cli.api import UnlearnError

CLASSES = [str(i) for i in range(10)]
NATIVE_RESOLUTION = 8
SPLIT_SEED = 0
HELDOUT_PER_CLASS = 30
PARTS = ("train", "heldout", "all")


@lru_cache(maxsize=1)
def _raw() -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 [1797, 8, 8] in 0..16, labels int64 [1797]), read once per process."""
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:  # pragma: no cover - scikit-learn is a dependency
        raise UnlearnError("the digits dataset needs scikit-learn: pip install scikit-learn") from exc
    bunch = load_digits()
    images = np.asarray(bunch.images, dtype=np.uint8)
    labels = np.asarray(bunch.target, dtype=np.int64)
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels


def _check(resolution: int, channels: int) -> None:
    if isinstance(resolution, bool) or not isinstance(resolution, numbers.Integral) \
            or not NATIVE_RESOLUTION <= resolution <= 1024:
        raise UnlearnError(f"digits resolution must be an integer from 8 to 1024 (e.g. 16 or 32), got {resolution!r}")
    if channels not in (1, 3):
        raise UnlearnError(f"digits channels must be 1 or 3, got {channels!r}")


def _to_images(raw: np.ndarray, resolution: int, channels: int) -> torch.Tensor:
    x = torch.from_numpy(raw.astype(np.float32)).unsqueeze(1) / 8.0 - 1.0  # [N,1,8,8] in [-1,1]
    if resolution != NATIVE_RESOLUTION:
        x = F.interpolate(x, size=(resolution, resolution), mode="bilinear", align_corners=False)
    x = x.clamp_(-1.0, 1.0)
    return x.repeat(1, channels, 1, 1).contiguous() if channels == 3 else x.contiguous()


def load(resolution: int = 16, channels: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """All 1797 digits: (images float32 [N, channels, resolution, resolution] in [-1, 1],
    labels int64 [N] with values 0..9). Greyscale is repeated into 3 channels if asked."""
    _check(resolution, channels)
    images, labels = _raw()
    return _to_images(images, int(resolution), channels), torch.from_numpy(labels.copy())


def split_indices() -> tuple[np.ndarray, np.ndarray]:
    """(train indices [1497], held-out indices [300]) into ``load()``'s order, both sorted."""
    _, labels = _raw()
    rng = np.random.RandomState(SPLIT_SEED)
    heldout = []
    for digit in range(len(CLASSES)):
        members = np.flatnonzero(labels == digit)
        heldout.append(members[rng.permutation(len(members))[:HELDOUT_PER_CLASS]])
    heldout_idx = np.sort(np.concatenate(heldout))
    train_idx = np.setdiff1d(np.arange(len(labels)), heldout_idx)
    return train_idx, heldout_idx


def split(part: str = "train", resolution: int = 16, channels: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """One part of the fixed split, as ``load`` returns it: part is "train" (1497 images),
    "heldout" (300, 30 per digit) or "all"."""
    if part not in PARTS:
        raise UnlearnError(f"digits split part must be one of {', '.join(PARTS)}, got {part!r}")
    images, labels = load(resolution, channels)
    if part == "all":
        return images, labels
    idx = torch.from_numpy(split_indices()[0 if part == "train" else 1])
    return images[idx].contiguous(), labels[idx].contiguous()
