"""The bundled digits classifiers (kinds `digits` and `digits-judge`) and their file format.

Registered by this (the digits) plugin beside the data and the weights they were trained on.
Two independent models, trained by ``python -m unlearn_cli_plugins.digits.train_classifier`` on
the digits train split at 16 px, greyscale (docs/digits.md has the recipes and accuracies):

- ``digits`` (arch "cnn"): two blocks of [3x3 conv, ReLU, 3x3 conv, ReLU, 2x2 max-pool], then a
  hidden layer whose ReLU output is ``features``; the classifier the method itself uses.
- ``digits-judge`` (arch "mlp"): a multi-layer perceptron on the flattened pixels, with another
  seed and augmentation; benchmarks use it as an outside judge of the unlearned model.

File format: a ``.safetensors`` file holding the state dict, with metadata ``format`` =
"gan-unlearn-classifier", ``format_version`` = "1" and ``classifier`` = JSON of
{arch, config, classes, resolution, channels, heldout_accuracy, train}. ``load_file`` reads any
such file without executing code.
"""
from __future__ import annotations

import json
import os
import tempfile
from importlib import resources
from pathlib import Path

import torch
from torch import nn

from unlearn_cli.api import UnlearnError
from unlearn_cli.api import ClassifierBase as Classifier
from unlearn_cli.api import finish_classifier as finish

FORMAT = "gan-unlearn-classifier"
FORMAT_VERSION = "1"
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
    arch = ARCHS.get(info.get("arch"))
    if arch is None:
        raise UnlearnError(f"unknown classifier arch {info.get('arch')!r}; known: {', '.join(ARCHS)}")
    return arch(info["classes"], info["resolution"], info["channels"], **info.get("config", {}))


def save_file(model: Classifier, info: dict, path: str | os.PathLike) -> None:
    """Write ``model`` and its ``info`` record atomically (temporary file, then rename)."""
    from safetensors.torch import save_file as _save

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    metadata = {"format": FORMAT, "format_version": FORMAT_VERSION, "classifier": json.dumps(info)}
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    os.close(fd)
    try:
        _save(tensors, tmp, metadata=metadata)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; installed package data must be readable
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def read_info(path: str | os.PathLike) -> tuple[dict, dict]:
    """(info record, state dict) of a classifier file; UnlearnError if missing or not ours."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise UnlearnError(f"classifier file not found: {path}; check the path, or leave it out to use the bundled weights")
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            metadata = f.metadata() or {}
            state = {key: f.get_tensor(key) for key in f.keys()}
    except Exception as exc:  # safetensors raises its own error types for corrupt files
        raise UnlearnError(f"{path} is not a readable .safetensors file ({exc}); re-create or re-download it") from exc
    if metadata.get("format") != FORMAT:
        raise UnlearnError(f"{path} is not a gan-unlearn classifier file (no '{FORMAT}' metadata); "
                           "make one with python -m unlearn_cli_plugins.digits.train_classifier")
    if metadata.get("format_version") != FORMAT_VERSION:
        raise UnlearnError(f"{path} has classifier format version {metadata.get('format_version')!r}; "
                           f"this version reads {FORMAT_VERSION}: upgrade gan-unlearn")
    try:
        info = json.loads(metadata["classifier"])
    except (KeyError, ValueError) as exc:
        raise UnlearnError(f"{path} has broken classifier metadata ({exc}); re-create the file") from exc
    return info, state


def load_file(path: str | os.PathLike, device: str | torch.device = "cpu") -> Classifier:
    """Any classifier file written by :func:`save_file`, ready to use (eval mode, frozen)."""
    info, state = read_info(path)
    try:
        model = build(info)
        model.load_state_dict(state)
    except (KeyError, TypeError, RuntimeError) as exc:
        raise UnlearnError(f"{path}: weights do not match their recorded architecture ({exc}); re-create the file") from exc
    model.info = info
    return finish(model, device)


def bundled_path(kind: str = "digits") -> Path:
    """Where the weights of a bundled classifier (``digits`` or ``digits-judge``) are installed."""
    return Path(str(resources.files(__package__) / "weights" / BUNDLED[kind]))


def load(path: str | os.PathLike | None = None, device: str | torch.device = "cpu") -> Classifier:
    """Classifier kind `digits`: the bundled CNN, or a retrained one at ``path``."""
    return load_file(bundled_path("digits") if path is None else path, device)


def load_judge(path: str | os.PathLike | None = None, device: str | torch.device = "cpu") -> Classifier:
    """Classifier kind `digits-judge`: the bundled independent MLP, or another file at ``path``."""
    return load_file(bundled_path("digits-judge") if path is None else path, device)
