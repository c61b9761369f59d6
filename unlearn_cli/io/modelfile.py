"""Our model files: ``.safetensors`` with self-describing metadata.

Tensors are prefixed ``G.`` (trained generator), ``G_ema.`` (EMA generator) and ``D.``
(discriminator). Metadata values are strings (a safetensors rule); structured values are JSON:

    format            "gan-unlearn"          marks the file as ours
    format_version    "1"
    gan               gan plugin name, e.g. "stylegan2"
    config            JSON of the plugin's architecture config
    stage             pretrained | adapted | unlearned | trained | checkpoint
    parent_sha256     sha256 of the file this one was derived from ("" if none)
    params            JSON of the run parameters that produced it
    tool_version      gan-unlearn version

The header is parsed here without torch, so ``gan-unlearn info`` is fast and a corrupt file gives a
clean error instead of a crash deep inside a library.
"""
from __future__ import annotations

import json
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from unlearn_cli import __version__
from unlearn_cli.errors import UnlearnError
from unlearn_cli.io.atomic import sha256_file, write_with

FORMAT_NAME = "gan-unlearn"
FORMAT_VERSION = "1"
PARTS = ("G", "G_ema", "D")
STAGES = ("pretrained", "adapted", "unlearned", "trained", "checkpoint")
_MAX_HEADER = 100 * 1024 * 1024


@dataclass
class ModelHeader:
    """What a model file says about itself, read without loading any tensor."""

    path: Path
    gan: str
    config: dict
    stage: str
    parent_sha256: str
    params: dict
    tool_version: str
    shapes: dict[str, list[int]] = field(default_factory=dict)
    extra: dict[str, str] = field(default_factory=dict)
    #: {kind: {name, distribution, version}} of the plugin components that made the file
    plugins: dict[str, dict] = field(default_factory=dict)

    def parameter_counts(self) -> dict[str, int]:
        counts = {part: 0 for part in PARTS}
        for name, shape in self.shapes.items():
            part = name.split(".", 1)[0]
            if part in counts:
                n = 1
                for s in shape:
                    n *= s
                counts[part] += n
        return {k: v for k, v in counts.items() if v}


def read_raw_header(path: str | os.PathLike) -> tuple[dict[str, Any], dict[str, str]]:
    """Parse a safetensors header: (tensor entries, metadata). Raises UnlearnError if not valid."""
    from unlearn_cli.io.readable import check_readable

    path = Path(path)
    if not path.exists():
        raise UnlearnError(f"model file not found: {path}")
    check_readable(path, "model file")  # a FIFO, a device, permission denied: said as such
    size = path.stat().st_size
    try:
        with open(path, "rb") as handle:
            raw_len = handle.read(8)
            if len(raw_len) < 8:
                raise ValueError("file is shorter than a safetensors header")
            (header_len,) = struct.unpack("<Q", raw_len)
            if header_len > min(_MAX_HEADER, size - 8):
                raise ValueError("header length is larger than the file")
            header = json.loads(handle.read(header_len))
        if not isinstance(header, dict):
            raise ValueError("header is not a JSON object")
        metadata = header.pop("__metadata__", None) or {}
        if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
            raise ValueError("metadata is not a mapping of strings")
        end = 0
        for name, entry in header.items():
            _check_entry(name, entry)
            end = max(end, entry["data_offsets"][1])
        if 8 + header_len + end > size:
            raise ValueError("file is truncated")
    except RecursionError:
        raise UnlearnError(f"{path} is not a valid .safetensors file (its header is nested too "
                           f"deeply); re-create or re-download it") from None
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise UnlearnError(f"{path} is not a valid .safetensors file ({exc}); "
                           f"re-create or re-download it") from exc
    return header, metadata


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _check_entry(name: str, entry: Any) -> None:
    """One tensor entry: {"dtype": str, "shape": [int >= 0, ...], "data_offsets": [begin, end]}."""
    if not isinstance(entry, dict):
        raise ValueError(f"entry '{name}' is not a JSON object")
    shape, offsets = entry.get("shape"), entry.get("data_offsets")
    if not isinstance(entry.get("dtype"), str):
        raise ValueError(f"entry '{name}' has no dtype")
    if not isinstance(shape, list) or not all(_is_count(s) for s in shape):
        raise ValueError(f"entry '{name}' has a bad shape")
    if (not isinstance(offsets, list) or len(offsets) != 2 or not all(_is_count(o) for o in offsets)
            or offsets[0] > offsets[1]):
        raise ValueError(f"entry '{name}' has bad data offsets")


def read_header(path: str | os.PathLike) -> ModelHeader:
    """The metadata of one of our model files; refuses foreign safetensors with a hint."""
    path = Path(path)
    entries, meta = read_raw_header(path)
    if meta.get("format") != FORMAT_NAME:
        raise UnlearnError(f"{path} is a .safetensors file but not a gan-unlearn model; "
                           f"import checkpoints with `gan-unlearn convert`")
    if meta.get("format_version") != FORMAT_VERSION:
        raise UnlearnError(f"{path} has model-file format {meta.get('format_version')!r}; this "
                           f"gan-unlearn reads format {FORMAT_VERSION}: upgrade gan-unlearn")
    try:
        config = json.loads(meta.get("config", "{}"))
        params = json.loads(meta.get("params", "{}"))
        if not isinstance(config, dict) or not isinstance(params, dict):
            raise ValueError("config and params must be JSON objects")
    except (ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
        raise UnlearnError(f"{path} has corrupt metadata ({exc}); re-create the file") from exc
    known = {"format", "format_version", "gan", "config", "stage", "parent_sha256", "params",
             "tool_version", "plugins"}
    try:
        plugins = json.loads(meta.get("plugins", "{}"))
    except (ValueError, RecursionError):
        plugins = None
    if not isinstance(plugins, dict):  # provenance only: a damaged record is not worth a refusal
        plugins = {}
    return ModelHeader(
        path=path, gan=meta.get("gan", ""), config=config, stage=meta.get("stage", ""),
        parent_sha256=meta.get("parent_sha256", ""), params=params,
        tool_version=meta.get("tool_version", ""),
        shapes={k: list(v["shape"]) for k, v in entries.items()},
        extra={k: v for k, v in meta.items() if k not in known}, plugins=plugins,
    )


def save_model(path: str | os.PathLike, parts: dict[str, dict], *, gan: str, config: dict,
               stage: str, parent_sha256: str = "", params: dict | None = None,
               extra: dict[str, str] | None = None, plugins: dict | None = None) -> str:
    """Write ``parts`` ({"G": state_dict, "D": ..., "G_ema": ...}) atomically; return its sha256.

    ``plugins``: ``{kind: {name, distribution, version}}`` of the components that made the
    file (a run passes all it used); the gan plugin's is looked up when not given.
    """
    from unlearn_cli.io.safetensors_writer import write_safetensors

    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}")
    tensors = {}
    for part, state in parts.items():
        if part not in PARTS:
            raise ValueError(f"unknown model part {part!r}")
        for name, tensor in (state or {}).items():
            tensors[f"{part}.{name}"] = tensor.detach().to("cpu").contiguous().clone()
    metadata = {
        "format": FORMAT_NAME, "format_version": FORMAT_VERSION, "gan": gan,
        "config": json.dumps(config, sort_keys=True), "stage": stage,
        "parent_sha256": parent_sha256 or "", "params": json.dumps(params or {}, sort_keys=True,
                                                                   default=str),
        "tool_version": __version__, **(extra or {}),
        "plugins": json.dumps(_with_gan_provenance(plugins, gan), sort_keys=True),
    }
    write_with(path, lambda tmp: write_safetensors(tmp, tensors, metadata))
    return sha256_file(path)


def _with_gan_provenance(plugins: dict | None, gan: str) -> dict:
    record = dict(plugins or {})
    if "gan" not in record:
        from unlearn_cli.plugins import get_registry

        try:
            record["gan"] = get_registry().provenance("gan", gan)
        except UnlearnError:  # a gan no installed plugin offers (tests, conversions): unknown
            record["gan"] = {"name": gan, "distribution": "", "version": ""}
    return record


@dataclass
class ModelFile:
    header: ModelHeader
    parts: dict[str, dict]  # "G" / "G_ema" / "D" -> state dict (absent parts missing)
    sha256: str


def load_model_file(path: str | os.PathLike, device: str = "cpu") -> ModelFile:
    """Read one of our model files: header, state dicts per part, sha256."""
    from safetensors.torch import load_file

    header = read_header(path)
    try:
        tensors = load_file(str(path), device=device)
    except Exception as exc:  # safetensors raises its own error types
        raise UnlearnError(f"{path} could not be read ({exc}); re-create the file") from exc
    parts: dict[str, dict] = {}
    for name, tensor in tensors.items():
        part, _, key = name.partition(".")
        parts.setdefault(part, {})[key] = tensor
    return ModelFile(header=header, parts=parts, sha256=sha256_file(path))
