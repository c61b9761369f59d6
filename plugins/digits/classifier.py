"""The bundled digits classifiers (kinds `digits` and `digits-judge`) and their file format.

Registered by this (the digits) plugin beside the data and the weights they were trained on.
Two independent models, trained by ``python -m unlearn_cli_plugins.digits.train_classifier`` on
the digits train split at 16 px, greyscale (docs/digits.md has the recipes and accuracies):

- ``digits`` (arch "cnn"): two blocks of [3x3 conv, ReLU, 3x3 conv, ReLU, 2x2 max-pool], then a
  hidden layer whose ReLU output is ``features``; the classifier the method itself uses.
- ``digits-judge`` (arch "mlp"): a multi-layer perceptron on the flattened pixels, with another
  seed and augmentation; benchmarks use it as an outside judge of the unlearned model.

File format: the core's classifier file (unlearn_cli/classifier_file.py): a ``.safetensors``
state dict with the architecture record in its metadata; ``load_file`` reads any such file of
these architectures without executing code.
"""
from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

import torch
from torch import nn

from unlearn_cli.api import ClassifierBase as Classifier
from unlearn_cli.api import build_classifier, load_classifier_file, read_classifier_file, save_classifier_file

BUNDLED = {"digits": "digits_classifier.safetensors", "digits-judge": "digits_judge.safetensors"}


class DigitsCNN(Classifier):
    def __init__(self, classes, resolution=16, channels=1, widths=(24, 48), hidden=96, dropout=0.3):
        super().__init__(classes, resolution, channels)
        layers, c_in = [], channels
        for width in widths:
            layers += [nn.Conv2d(c_in, width, 3, padding=1), nn.ReLU(),
                       nn.Conv2d(width, width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
            c_in = width
        side = resolution // 2 ** len(widths)
        self.body = nn.Sequential(*layers, nn.Flatten(), nn.Linear(c_in * side * side, hidden), nn.ReLU())
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(hidden, len(self.classes)))

    def _logits_and_features(self, x):
        features = self.body(x)
        return self.head(features), features


class DigitsMLP(Classifier):
    def __init__(self, classes, resolution=16, channels=1, hidden=(256, 128), dropout=0.2):
        super().__init__(classes, resolution, channels)
        layers, n_in = [nn.Flatten()], channels * resolution * resolution
        for width in hidden:
            layers += [nn.Dropout(dropout), nn.Linear(n_in, width), nn.GELU()]
            n_in = width
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(n_in, len(self.classes))

    def _logits_and_features(self, x):
        features = self.body(x)
        return self.head(features), features


ARCHS = {"cnn": DigitsCNN, "mlp": DigitsMLP}


def build(info: dict) -> Classifier:
    """A fresh model from the ``classifier`` metadata record (arch, config, classes, ...)."""
    return build_classifier(info, ARCHS)


def save_file(model: Classifier, info: dict, path: str | os.PathLike) -> None:
    """Write ``model`` and its ``info`` record atomically (the core's classifier file format)."""
    save_classifier_file(model, info, path)


def read_info(path: str | os.PathLike) -> tuple[dict, dict]:
    """(info record, state dict) of a classifier file; UnlearnError if missing or not ours."""
    return read_classifier_file(path)


def load_file(path: str | os.PathLike, device: str | torch.device = "cpu") -> Classifier:
    """Any classifier file of these architectures, ready to use (eval mode, frozen)."""
    return load_classifier_file(path, ARCHS, device)


def bundled_path(kind: str = "digits") -> Path:
    """Where the weights of a bundled classifier (``digits`` or ``digits-judge``) are installed."""
    return Path(str(resources.files(__package__) / "weights" / BUNDLED[kind]))


def load(path: str | os.PathLike | None = None, device: str | torch.device = "cpu") -> Classifier:
    """Classifier kind `digits`: the bundled CNN, or a retrained one at ``path``."""
    return load_file(bundled_path("digits") if path is None else path, device)


def load_judge(path: str | os.PathLike | None = None, device: str | torch.device = "cpu") -> Classifier:
    """Classifier kind `digits-judge`: the bundled independent MLP, or another file at ``path``."""
    return load_file(bundled_path("digits-judge") if path is None else path, device)
