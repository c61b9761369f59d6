"""A base class for classifiers: what the classifier source, PUL and the classifier-feature FID use.

Plugins get it as ``unlearn_cli.api.ClassifierBase`` (with ``finish_classifier``): it lives in the
core so that any classifier plugin can build on it without importing another plugin.

A classifier is a ``torch.nn.Module`` (in eval mode, parameters frozen) with:

    classes: list[str]        class names; index i of the logits is ``classes[i]``
    resolution: int | None    input size it was made for (None: any size, no resizing)
    channels: int | None      1 or 3 (None: images are passed with the channels they have)
    logits(images)   -> [N, K]  images: float NCHW in [-1, 1], any size, 1 or 3 channels
    probs(images)    -> [N, K]  softmax of the logits
    features(images) -> [N, F]  penultimate features (for a classifier-feature FID)
    class_index(name) -> int    index of a class by name, or an UnlearnError listing the names

Every call first runs ``prepare``: images go to the classifier's device as float32, are resized
bilinearly to ``resolution`` (align_corners=False, antialiased when shrinking) and converted to
``channels`` (RGB -> grey by the mean of the channels, grey -> RGB by repetition). So the output of
any GAN can be classified as it is. Calls keep autograd (wrap them in ``torch.no_grad()`` when
scoring); split large sets into batches yourself.

To write one, subclass :class:`Classifier`, set the three attributes and implement
``_logits(x)`` and ``_features(x)`` on already prepared input (``_logits_and_features`` too if
one pass gives both). A classifier plugin's target is ``load(path_or_none, device) -> Classifier``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from unlearn_cli.errors import UnlearnError


def adapt_images(images: torch.Tensor, resolution: int | None, channels: int | None) -> torch.Tensor:
    """Resize NCHW images bilinearly to ``resolution`` and convert them to ``channels``."""
    if images.dim() != 4 or images.shape[1] not in (1, 3):
        raise UnlearnError(
            f"a classifier needs images shaped [N, 1 or 3, H, W], got {list(images.shape)}"
        )
    x = images
    if channels is not None and x.shape[1] != channels:
        if channels == 1:
            x = x.mean(dim=1, keepdim=True)
        elif channels == 3:
            x = x.expand(-1, 3, -1, -1)
        else:
            raise UnlearnError(f"cannot convert images to {channels} channels: only 1 or 3 are supported")
    if resolution is not None and tuple(x.shape[-2:]) != (resolution, resolution):
        shrink = x.shape[-2] > resolution or x.shape[-1] > resolution
        x = F.interpolate(x, size=(resolution, resolution), mode="bilinear",
                          align_corners=False, antialias=shrink)
    return x


class Classifier(nn.Module):
    """Base class; see the module docstring for the contract."""

    classes: list[str]
    resolution: int | None
    channels: int | None

    def __init__(self, classes: list[str], resolution: int | None, channels: int | None):
        super().__init__()
        self.classes = [str(c) for c in classes]
        self.resolution = resolution
        self.channels = channels

    # --- to implement -------------------------------------------------------------------
    def _logits(self, x: torch.Tensor) -> torch.Tensor:
        return self._logits_and_features(x)[0]

    def _features(self, x: torch.Tensor) -> torch.Tensor:
        return self._logits_and_features(x)[1]

    def _logits_and_features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    # --- the public interface ------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        for tensor in self.parameters():
            return tensor.device
        for tensor in self.buffers():
            return tensor.device
        return torch.device("cpu")

    def prepare(self, images: torch.Tensor) -> torch.Tensor:
        x = images.to(device=self.device, dtype=torch.float32)
        return adapt_images(x, self.resolution, self.channels)

    def logits(self, images: torch.Tensor) -> torch.Tensor:
        return self._logits(self.prepare(images))

    def features(self, images: torch.Tensor) -> torch.Tensor:
        return self._features(self.prepare(images))

    def probs(self, images: torch.Tensor) -> torch.Tensor:
        return self.logits(images).softmax(dim=1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.logits(images)

    def class_index(self, name: str | int) -> int:
        name = str(name)
        if name not in self.classes:
            raise UnlearnError(f"class '{name}' is not one of this classifier's classes: {', '.join(self.classes)}")
        return self.classes.index(name)

    def extra_repr(self) -> str:
        return f"classes={len(self.classes)}, resolution={self.resolution}, channels={self.channels}"


def finish(model: Classifier, device: str | torch.device) -> Classifier:
    """Move to ``device``, switch to eval mode and freeze the parameters (what ``load`` returns)."""
    try:
        model = model.to(device)
    except (RuntimeError, AssertionError) as exc:
        raise UnlearnError(f"cannot use device '{device}': {exc}") from exc
    model.eval()
    model.requires_grad_(False)
    return model
