"""The bundled MNIST classifiers (kinds `mnist` and `mnist-judge`).

Two independent models of different architectures, trained by
``python -m unlearn_cli_plugins.mnist.train_classifier`` on the MNIST train split with
different seeds and augmentation, at 16 px (docs/mnist.md has the recipes, accuracies and why 16):

- ``mnist`` (arch "vgg"): three blocks of [3x3 conv, batch norm, ReLU] x 2 and a 2x2 max-pool, then a
  hidden layer whose ReLU output is ``features``; the classifier the method itself uses.
- ``mnist-judge`` (arch "strided"): 5x5 convolutions with stride 2 and GELU, batch-normalised,
  global average pooling; benchmarks use it as an outside judge of the unlearned model.

Files are the core's classifier file format (unlearn_cli/classifier_file.py): weights plus an
architecture record, read without executing code.
"""
from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

import torch
from torch import nn

from unlearn_cli.api import ClassifierBase as Classifier
from unlearn_cli.api import load_classifier_file

BUNDLED = {"mnist": "mnist_classifier.safetensors", "mnist-judge": "mnist_judge.safetensors"}


class MnistVGG(Classifier):
    def __init__(self, classes, resolution=32, channels=1, widths=(32, 64, 96), hidden=128, dropout=0.3):
        super().__init__(classes, resolution, channels)
        layers, c_in = [], channels
        for width in widths:
            layers += [nn.Conv2d(c_in, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
                       nn.Conv2d(width, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
                       nn.MaxPool2d(2)]
            c_in = width
        side = resolution // 2 ** len(widths)
        self.body = nn.Sequential(*layers, nn.Flatten(), nn.Linear(c_in * side * side, hidden), nn.ReLU())
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(hidden, len(self.classes)))

    def _logits_and_features(self, x):
        features = self.body(x)
        return self.head(features), features


class MnistStrided(Classifier):
    def __init__(self, classes, resolution=32, channels=1, widths=(32, 64, 128), dropout=0.2):
        super().__init__(classes, resolution, channels)
        layers, c_in = [], channels
        for width in widths:  # each block halves the side: 32 -> 16 -> 8 -> 4
            layers += [nn.Conv2d(c_in, width, 5, stride=2, padding=2, bias=False), nn.BatchNorm2d(width), nn.GELU()]
            c_in = width
        self.body = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(c_in, len(self.classes)))

    def _logits_and_features(self, x):
        features = self.body(x)
        return self.head(features), features


ARCHS = {"vgg": MnistVGG, "strided": MnistStrided}


def bundled_path(kind: str = "mnist") -> Path:
    """Where the weights of a bundled classifier (``mnist`` or ``mnist-judge``) are installed."""
    return Path(str(resources.files(__package__) / "weights" / BUNDLED[kind]))


def load(path: str | os.PathLike | None = None, device: str | torch.device = "cpu") -> Classifier:
    """Classifier kind `mnist`: the bundled CNN, or a retrained one at ``path``."""
    return load_classifier_file(bundled_path("mnist") if path is None else path, ARCHS, device)


def load_judge(path: str | os.PathLike | None = None, device: str | torch.device = "cpu") -> Classifier:
    """Classifier kind `mnist-judge`: the bundled independent CNN, or another file at ``path``."""
    return load_classifier_file(bundled_path("mnist-judge") if path is None else path, ARCHS, device)
