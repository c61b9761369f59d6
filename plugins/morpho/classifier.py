"""The morpho classifier: three bins of one measured attribute, with a class classifier beside.

Probabilities are soft bins of the measurement m (softness s, thresholds low < high):
p(third) = sigmoid((m - high) / s), p(first) = sigmoid((low - m) / s), p(middle) = the rest, so a
sample far from a threshold is classified with near certainty and one at the threshold with 0.5:
the classifier source's confidence thresholds then leave ambiguous samples out of both sets.

Beside the classifier contract (unlearn_cli/classifier_base.py) it offers what evaluation uses
when present: ``class_classifier`` (which digit a sample is: class shares and their shift are
counted by it, and ``features`` are its features, so the FID is the same one class runs report)
and ``measure(images)`` (every measurement, for the before/after histograms of the report).
"""
from __future__ import annotations

import torch

from unlearn_cli.api import ClassifierBase, UnlearnError, finish_classifier, load_component

from .measure import measure as measure_images
from .options import ATTRIBUTES, default_thresholds


class MorphoClassifier(ClassifierBase):
    def __init__(self, attribute: str, low: float | None, high: float | None, softness: float, class_classifier):
        classes, _, unit = ATTRIBUTES[attribute]
        super().__init__(list(classes), resolution=None, channels=None)
        self.attribute, self.low, self.high, self.softness, self.unit = attribute, low, high, softness, unit
        self.class_classifier = class_classifier
        self._last: tuple | None = None  # (the last images measured, their version, the measurements)

    def measure(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """Morpho-MNIST measurements of images, remembered for the very same tensor object
        (evaluation asks for the probabilities, features and measurements of each batch).

        The tensor itself is kept with its result, so its memory cannot be freed and handed to
        the next batch: a key made of its address and shape matched a later batch that reused
        the memory, and gave it the earlier batch's measurements."""
        last = self._last
        if last is None or last[0] is not images or last[1] != images._version:
            self._last = (images, images._version, measure_images(images))
        return self._last[2]

    def thresholds(self, resolution: int) -> tuple[float, float]:
        """(low, high) for images of this size: the options, else the size's defaults."""
        low, high = default_thresholds(self.attribute, resolution)
        return (low if self.low is None else self.low), (high if self.high is None else self.high)

    def _logits_and_features(self, x):
        m = self.measure(x)[self.attribute].to(x.device)
        low, high = self.thresholds(x.shape[-1])
        upper = torch.sigmoid((m - high) / self.softness)
        lower = torch.sigmoid((low - m) / self.softness)
        middle = (1 - upper - lower).clamp_min(1e-6)
        probs = torch.stack([lower.clamp_min(1e-6), middle, upper.clamp_min(1e-6)], 1)
        return probs.log(), self.class_classifier.features(x)


def load(path=None, device="cpu", attribute="thickness", low=None, high=None, softness=None,
         classes_from="mnist") -> MorphoClassifier:
    """Classifier kind `morpho` (it has no weights: ``path`` must be None)."""
    if path is not None:
        raise UnlearnError("the morpho classifier measures images and has no weights file: drop --classifier-path")
    _, soft_default, _ = ATTRIBUTES[attribute]
    if classes_from == "morpho":
        raise UnlearnError("morpho cannot be its own class classifier: set -o classes_from=NAME (e.g. mnist)")
    class_classifier = load_component("classifier", classes_from)(None, device)
    if low is not None and high is not None and not low < high:
        raise UnlearnError(f"morpho: low ({low}) must be below high ({high})")
    model = MorphoClassifier(attribute, low, high, soft_default if softness is None else softness, class_classifier)
    model.class_classifier_name = classes_from  # named in the report: "class shares by mnist"
    return finish_classifier(model, device)
