"""Loading and saving GANs through their plugin: the core never knows the architecture.

A GanBundle holds the plugin, its config and the three networks. Fine-tuning stages start from
the pre-trained EMA generator (the model users actually sample from); see docs/method.md.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import torch
from torch import nn

from unlearn_cli.engine.model_checks import check_finite, check_model_size
from unlearn_cli.errors import UnlearnError
from unlearn_cli.io.readable import check_readable
from unlearn_cli.io.modelfile import (FORMAT_NAME, load_model_file, read_header, read_raw_header,
                                     save_model)
from unlearn_cli.plugins import get_registry

BUNDLED_PREFIX = "bundled:"


@dataclass
class GanBundle:
    plugin: Any
    gan: str
    config: dict
    G: nn.Module
    G_ema: nn.Module
    D: nn.Module | None
    sha256: str = ""
    path: str = ""
    warnings: list[str] = field(default_factory=list)
    source_format: str = ""  # the plugin's name for a foreign file's format; "" for our files
    made_by: dict = field(default_factory=dict)  # the gan plugin's {name, distribution, version}

    def parts(self) -> dict[str, dict]:
        return model_parts(self.G, self.G_ema, self.D)

    def save(self, path, stage: str, parent_sha256: str = "", params: dict | None = None,
             extra: dict | None = None) -> str:
        return save_model(path, self.parts(), gan=self.gan, config=self.config, stage=stage,
                          parent_sha256=parent_sha256, params=params, extra=extra,
                          plugins={"gan": self.made_by} if self.made_by else None)


def model_parts(G: nn.Module, G_ema: nn.Module, D: nn.Module | None) -> dict[str, dict]:
    """The state dicts a model file holds: G, G_ema and (when there is one) D."""
    parts = {"G": G.state_dict(), "G_ema": G_ema.state_dict()}
    if D is not None:
        parts["D"] = D.state_dict()
    return parts


def bundled_name(ckpt: str) -> str | None:
    """NAME for ``bundled:NAME`` (the dataset plugin that ships the model), else None."""
    return ckpt[len(BUNDLED_PREFIX):] if ckpt.startswith(BUNDLED_PREFIX) else None


def resolve_checkpoint(ckpt: str) -> Path:
    """A path, or ``bundled:NAME`` for a model shipped by dataset plugin NAME."""
    name = bundled_name(ckpt)
    if name is None:
        return Path(ckpt)
    spec = get_registry().find("dataset", name)
    target = spec.options.get("model")
    if not target:
        raise UnlearnError(f"dataset plugin '{name}' ships no bundled model; pass --ckpt FILE")
    package, _, relative = target.partition(":")
    path = Path(str(resources.files(package).joinpath(relative)))
    if not path.is_file():
        raise UnlearnError(f"the bundled model of '{name}' is missing from the installation "
                           f"({path}); reinstall gan-unlearn or pass --ckpt FILE")
    return path


def bundled_defaults(config):
    """A run config with what a bundled model implies filled in: the classifier its dataset
    plugin names (options["classifier"]) when --classifier is not given."""
    dataset = bundled_name(config.ckpt)
    if config.classifier or dataset is None:
        return config
    spec = get_registry().find("dataset", dataset)
    name = spec.options.get("classifier")
    return config.model_copy(update={"classifier": name}) if name else config


def existing_checkpoint(ckpt: str) -> Path:
    """The file a checkpoint argument names, which must exist."""
    path = resolve_checkpoint(ckpt)
    if not path.exists():
        raise UnlearnError(f"checkpoint not found: {path}")
    return path


def is_model_file(path: Path) -> bool:
    """One of our .safetensors model files (by its header's format name)."""
    if path.suffix != ".safetensors":
        return False
    _, meta = read_raw_header(path)
    return meta.get("format") == FORMAT_NAME


def _load_state(module: nn.Module, state: dict, what: str, path) -> None:
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()
        detail = " ".join(line.strip() for line in first[:3])
        raise UnlearnError(f"{path}: the {what} does not match its architecture config "
                           f"({detail[:300]}); is --gan right for this file?") from None


def _plugin_call(fn, name: str, path, *args):
    """A gan plugin call on what a file says: its failures are the file's, reported in one line."""
    try:
        return fn(*args)
    except UnlearnError:
        raise
    except Exception as exc:
        detail = " ".join(str(exc).split())[:200]
        raise UnlearnError(f"{path}: the '{name}' plugin cannot use this file "
                           f"({type(exc).__name__}: {detail}); re-create it or pass the right --gan") from exc


def load_gan(ckpt: str, gan_name: str | None = None, device: str = "cpu") -> GanBundle:
    """Load one of our model files, or a foreign checkpoint through the named gan plugin."""
    path = existing_checkpoint(ckpt)
    if path.is_dir():
        raise UnlearnError(f"checkpoint {path} is a folder; pass a model file")
    check_readable(path, "checkpoint")  # a FIFO, a device, permission denied: said as such
    if path.stat().st_size == 0:
        raise UnlearnError(f"checkpoint {path} is empty (0 bytes); re-download or re-create it")
    registry = get_registry()
    if is_model_file(path):
        model = load_model_file(path)
        name = model.header.gan
        if gan_name and gan_name.rpartition(":")[2] != name:  # (--gan may be DIST:NAME)
            raise UnlearnError(f"{path} holds a '{name}' model, not '{gan_name}'; "
                               f"drop --gan or pass --gan {name}")
        provided = registry.provided("gan", gan_name or _recorded_gan(registry, model.header))
        plugin = provided.spec.load()
        config = _plugin_call(plugin.validate_config, name, path, model.header.config)
        parts, digest, warnings, source_format = model.parts, model.sha256, [], ""
        if "G" not in parts and "G_ema" not in parts:
            raise UnlearnError(f"{path} holds no generator (no G. or G_ema. tensors); re-create it")
        if "D" not in parts:
            warnings.append("no discriminator in file: the method needs one; a freshly initialised "
                            "discriminator will be warmed up on generated samples")
    else:
        provided = registry.provided("gan", gan_name or "stylegan2")
        name, plugin = provided.spec.name, provided.spec.load()
        if not _plugin_call(plugin.can_import, name, path, path):
            if path.suffix == ".safetensors":
                read_header(path)  # says what it is: a .safetensors file, but not ours
            raise UnlearnError(f"{path} is not a checkpoint the '{name}' plugin can read (damaged, "
                               f"truncated or another format); check the file or pass the right --gan")
        imported = _plugin_call(plugin.import_checkpoint, name, path, path)
        config = _plugin_call(plugin.validate_config, name, path, imported.config)
        parts = {"G": imported.generator}
        if imported.generator_ema is not None:
            parts["G_ema"] = imported.generator_ema
        if imported.discriminator is not None:
            parts["D"] = imported.discriminator
        from unlearn_cli.io.atomic import sha256_file

        digest, warnings = sha256_file(path), list(imported.warnings)
        source_format = imported.source_format
    check_model_size(plugin, name, config, path)  # before anything is allocated
    check_finite(parts, path)
    G, D = _plugin_call(plugin.build, name, path, config)
    _load_state(G, parts.get("G") or parts["G_ema"], "generator", path)
    G_ema = copy.deepcopy(G)
    if "G_ema" in parts:
        _load_state(G_ema, parts["G_ema"], "EMA generator", path)
    if "D" in parts:
        _load_state(D, parts["D"], "discriminator", path)
    else:
        D = None
    bundle = GanBundle(plugin, name, config, G.to(device), G_ema.to(device),
                       D.to(device) if D is not None else None, digest, str(path), warnings,
                       source_format, made_by=provided.provenance())
    bundle.G_ema.eval().requires_grad_(False)
    from unlearn_cli.engine.seams import check_generator

    check_generator(bundle.G_ema, provided.label(), device)  # a first batch
    return bundle


def _recorded_gan(registry, header) -> str:
    """The gan a file names, qualified by the distribution the file recorded when that one is
    installed (so a file stays loadable when another distribution offers the same name)."""
    dist = (header.plugins.get("gan") or {}).get("distribution")
    if dist and any(p.kind == "gan" and p.spec.name == header.gan and p.plugin.dist == dist
                    for p in registry.components):
        return f"{dist}:{header.gan}"
    return header.gan


def fresh_discriminator(bundle: GanBundle, device: str) -> nn.Module:
    """A newly initialised D of the bundle's architecture (for generator-only checkpoints)."""
    _, D = bundle.plugin.build(bundle.config)
    return D.to(device)


def clone(module: nn.Module, trainable: bool = True) -> nn.Module:
    copy_ = copy.deepcopy(module)
    copy_.requires_grad_(trainable)
    return copy_.train(trainable)


@torch.no_grad()
def generate(G: nn.Module, n: int, seed: int, device: str, batch: int | None = None,
             truncation_psi: float = 1.0, noise_mode: str = "const") -> torch.Tensor:
    """n images from G for fixed latents (seeded on the CPU, so any device gives the same z).

    Batches hold as many images as fit in the working set (engine/memory.py), at most 256.
    """
    if batch is None:
        from unlearn_cli.engine.memory import generation_batch
        batch = generation_batch(G, device, cap=256)
    z = latents(n, G.z_dim, seed).to(device)
    return torch.cat([G(z[i:i + batch], truncation_psi=truncation_psi, noise_mode=noise_mode)
                      for i in range(0, n, batch)])


def latents(n: int, z_dim: int, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(n, z_dim, generator=gen)


@torch.no_grad()
def generate_from(G: nn.Module, z, device: str, batch: int | None = None, truncation_psi: float = 1.0,
                  noise_mode: str = "const", who: str = "a source") -> torch.Tensor:
    """Images from G for given latents z [n, z_dim] (what SourceContext.generate_from does)."""
    if not torch.is_tensor(z) or z.dim() != 2 or z.shape[1] != G.z_dim or not z.is_floating_point():
        shape = list(z.shape) if torch.is_tensor(z) else type(z).__name__
        raise UnlearnError(f"{who} asked for images of latents shaped {shape}; generate_from(z) "
                           f"takes a float tensor [n, {G.z_dim}] (context.latents(n, seed) makes one)")
    z = z.float()
    if batch is None:  # what fits in the working set (engine/memory.py), at most 256
        from unlearn_cli.engine.memory import generation_batch
        batch = generation_batch(G, device, cap=256)
    return torch.cat([G(z[i:i + batch].to(device), truncation_psi=truncation_psi,
                        noise_mode=noise_mode) for i in range(0, len(z), batch)])
