"""Classifier kind `torchscript`: a user's model saved with ``torch.jit.save``.

Loaded with ``torch.jit.load`` (TorchScript is a program for the TorchScript interpreter, not
pickled Python: loading it runs no arbitrary code). The scripted module's ``forward(images)`` must
return logits [N, K]. It may also define:

- int attributes ``resolution`` and ``channels``: images are then resized and converted to them
  (without them, images are passed at the size and channel count the GAN produces);
- a method ``features(images) -> [N, F]`` exported with ``@torch.jit.export``; without it the
  logits double as features, which makes a classifier-feature FID coarse (K dimensions).

Class names come from a sidecar text file ``<file>.classes.txt`` (one name a line, e.g.
``model.pt.classes.txt``); without it the classes are numbered "0".."K-1", K found by running the
model once on a blank image (which needs ``resolution`` and ``channels``).
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path

import torch

from unlearn_cli.api import UnlearnError, check_readable
from .base import Classifier, finish


class TorchScriptClassifier(Classifier):
    def __init__(self, module, classes, resolution, channels):
        super().__init__(classes, resolution, channels)
        self.module = module
        method = getattr(module, "features", None)  # a submodule called features does not count
        self.has_features = callable(method) and not isinstance(method, torch.nn.Module)

    def _logits(self, x):
        return self.module(x)

    def _features(self, x):
        return (self.module.features(x) if self.has_features else self.module(x)).flatten(1)


def _int_attr(module, name: str) -> int | None:
    value = getattr(module, name, None)
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else None


def _read_classes(path: Path) -> list[str] | None:
    sidecar = path.with_name(path.name + ".classes.txt")
    if not sidecar.is_file():
        return None
    names = [line.strip() for line in sidecar.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not names:
        raise UnlearnError(f"{sidecar} lists no classes; write one class name a line, or delete it")
    return names


def load(path: str | os.PathLike | None, device: str | torch.device = "cpu") -> Classifier:
    """Wrap the TorchScript file at ``path`` as a :class:`Classifier` on ``device``."""
    if path is None:
        raise UnlearnError("the torchscript classifier needs a file: pass the path of a model saved with torch.jit.save")
    path = Path(path)
    if not path.exists():
        raise UnlearnError(f"TorchScript file not found: {path}; check the path")
    check_readable(path, "TorchScript file")  # permission denied, a folder, a FIFO: said as such
    try:
        with warnings.catch_warnings():  # torch >= 2.10 marks torch.jit deprecated; it still works
            warnings.simplefilter("ignore", DeprecationWarning)
            module = torch.jit.load(str(path), map_location=device)
    except Exception as exc:  # torch raises RuntimeError/ValueError/zipfile errors for bad files
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UnlearnError(f"{path} is not a loadable TorchScript file ({first}); save the model with "
                           "torch.jit.save(torch.jit.script(model), path)") from exc
    resolution, channels = _int_attr(module, "resolution"), _int_attr(module, "channels")
    if channels not in (None, 1, 3):
        raise UnlearnError(f"{path}: attribute channels = {channels}; only 1 or 3 are supported")
    classes = _read_classes(path)
    if classes is None:
        if resolution is None or channels is None:
            raise UnlearnError(f"{path}: cannot tell its classes; write {path.name}.classes.txt beside it "
                               "(one class a line) or give the module int attributes resolution and channels")
        try:
            with torch.no_grad():
                probe = module(torch.zeros(1, channels, resolution, resolution, device=device))
        except Exception as exc:
            raise UnlearnError(f"{path}: the model fails on a blank {channels}x{resolution}x{resolution} "
                               f"image ({type(exc).__name__}); check its resolution and channels") from exc
        if probe.dim() != 2:
            raise UnlearnError(f"{path}: forward must return logits [N, K], got shape {list(probe.shape)}")
        classes = [str(i) for i in range(probe.shape[-1])]
    model = TorchScriptClassifier(module, classes, resolution, channels)
    return finish(model, device)
