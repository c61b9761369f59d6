"""The gan-unlearn classifier file: a classifier's weights and its architecture record, no code.

Plugins get these as ``unlearn_cli.api.save_classifier_file`` / ``read_classifier_file`` /
``load_classifier_file``; a dataset plugin that ships classifiers (digits, mnist) keeps only its
architectures. A file is a ``.safetensors`` state dict with metadata ``format`` =
"gan-unlearn-classifier", ``format_version`` = "1" and ``classifier`` = JSON of the info record
{arch, config, classes, resolution, channels, heldout_accuracy, train}. Reading never executes
code: the plugin's own ``archs`` table maps the recorded ``arch`` name to a class.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Callable, Mapping

import torch

from unlearn_cli.classifier_base import Classifier, finish
from unlearn_cli.errors import UnlearnError
from unlearn_cli.io.readable import check_readable

FORMAT = "gan-unlearn-classifier"
FORMAT_VERSION = "1"


def build_classifier(info: dict, archs: Mapping[str, Callable[..., Classifier]]) -> Classifier:
    """A fresh model from an info record, with ``archs`` mapping arch names to classes."""
    arch = archs.get(info.get("arch"))
    if arch is None:
        raise UnlearnError(f"unknown classifier arch {info.get('arch')!r}; known: {', '.join(archs)}")
    return arch(info["classes"], info["resolution"], info["channels"], **info.get("config", {}))


def save_classifier_file(model: torch.nn.Module, info: dict, path: str | os.PathLike) -> None:
    """Write ``model`` and its ``info`` record atomically (temporary file, then rename)."""
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    metadata = {"format": FORMAT, "format_version": FORMAT_VERSION, "classifier": json.dumps(info)}
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata=metadata)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; installed package data must be readable
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def read_classifier_file(path: str | os.PathLike) -> tuple[dict, dict]:
    """(info record, state dict) of a classifier file; UnlearnError if missing or not ours."""
    from safetensors import safe_open

    path = Path(path)
    if not path.exists():
        raise UnlearnError(f"classifier file not found: {path}; check the path, or leave it out to use the bundled weights")
    check_readable(path, "classifier file")
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


def load_classifier_file(path: str | os.PathLike, archs: Mapping[str, Callable[..., Classifier]],
                         device: str | torch.device = "cpu") -> Classifier:
    """Any classifier file written by :func:`save_classifier_file`, ready to use (eval, frozen)."""
    info, state = read_classifier_file(path)
    try:
        model = build_classifier(info, archs)
        model.load_state_dict(state)
    except (KeyError, TypeError, RuntimeError) as exc:
        raise UnlearnError(f"{path}: weights do not match their recorded architecture ({exc}); re-create the file") from exc
    model.info = info
    return finish(model, device)
