"""Inception-v3 pool features through torch-fidelity, from a local weights file only.

torch-fidelity is optional (``pip install 'gan-unlearn[fid]'``) and imported only here, only when
``--inception-weights FILE`` is given. We never let it download: the weights always come from the
user's file, passed through its ``feature_extractor_weights_path`` option.

torch-fidelity reads that file with ``torch.load(weights_only=False)``, which can run code hidden
in a pickle. So we read the user's file ourselves first, safely (safetensors, or ``torch.load``
with ``weights_only=True``), check that it is a mapping of names to tensors, and hand
torch-fidelity a temporary copy holding exactly those tensors.
"""
from __future__ import annotations

import contextlib
import sys
import tempfile
from pathlib import Path
from typing import Callable

import torch

from unlearn_cli.errors import UnlearnError

FEATURE_LAYER = "2048"  # the pool3 features FID is defined on
INSTALL_HINT = "pip install 'gan-unlearn[fid]'"


def _import_extractor():
    try:
        from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3
    except Exception as exc:  # not installed, or torchvision not matching torch
        reason = " ".join(f"{type(exc).__name__}: {exc}".split())
        raise UnlearnError(f"Inception FID needs torch-fidelity, which cannot be imported "
                           f"({reason}); {INSTALL_HINT}") from None
    return FeatureExtractorInceptionV3


def read_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """A state dict of tensors from .safetensors or .pt/.pth, read without executing code."""
    path = Path(path)
    if not path.is_file():
        raise UnlearnError(f"--inception-weights file not found: {path}")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        reason = " ".join(str(exc).split())[:200]
        raise UnlearnError(f"cannot read Inception weights {path}: {reason}") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not state or not all(
            isinstance(k, str) and torch.is_tensor(v) for k, v in state.items()):
        raise UnlearnError(f"{path} is not a state dict of tensors (torch-fidelity's "
                           f"Inception-v3 format); see docs/evaluation.md")
    return state


def load_inception(weights: str | Path, device, batch: int = 50) -> Callable[[torch.Tensor], torch.Tensor]:
    """A function: images in [-1, 1] (NCHW, 1 or 3 channels) -> Inception pool features [N, 2048]."""
    extractor_cls = _import_extractor()
    state = read_weights(weights)
    with tempfile.TemporaryDirectory(prefix="gan-unlearn-inception-") as tmp:
        checked = Path(tmp) / "inception.pth"
        torch.save(state, checked)
        del state
        try:  # its messages go to stderr: stdout stays clean for --json
            with contextlib.redirect_stdout(sys.stderr):
                model = extractor_cls("inception-v3-compat", [FEATURE_LAYER],
                                      feature_extractor_weights_path=str(checked))
        except RuntimeError as exc:
            first = " ".join(str(exc).split())[:200]
            raise UnlearnError(f"{weights} does not hold Inception-v3 weights in torch-fidelity's "
                               f"format ({first})") from None
    model = model.to(device).eval()

    @torch.no_grad()
    def features(images: torch.Tensor) -> torch.Tensor:
        x = ((images.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
        if x.shape[1] == 1:
            x = x.repeat(1, 3, 1, 1)
        out = [model(x[i:i + batch].to(device))[0].double().cpu() for i in range(0, len(x), batch)]
        return torch.cat(out)

    return features
