"""The public API plugins build on: light spec records, the plugin kinds, the error type.

Plugins import from here (and from `unlearn_cli.hookimpl`), never from the core's internals.
Nothing in this module imports torch: spec records name their implementation as a lazy
``"module:attr"`` target that is imported only when the component is used.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

from unlearn_cli.errors import UnlearnError

__all__ = ["ComponentSpec", "KINDS", "UnlearnError"]

#: plugin kind -> the hook that collects its specs
KINDS = {
    "gan": "register_gans",
    "source": "register_sources",
    "repulsion": "register_repulsions",
    "classifier": "register_classifiers",
    "method": "register_methods",
    "dataset": "register_datasets",
}


@dataclass(frozen=True)
class ComponentSpec:
    """One named component a plugin offers.

    name:    what users type (``--repulsion exp``); lower-case, no spaces.
    summary: one line for ``list-plugins``.
    target:  ``"package.module:attr"``, imported lazily by :meth:`load`.
    options: free-form, kind-specific facts the core may read without importing the target.
    """

    name: str
    summary: str
    target: str
    options: dict[str, Any] = field(default_factory=dict)

    def load(self) -> Any:
        """Import and return the implementation this spec names."""
        module_name, _, attr = self.target.partition(":")
        try:
            obj = importlib.import_module(module_name)
            for part in filter(None, attr.split(".")):
                obj = getattr(obj, part)
        except Exception as exc:  # a broken plugin must not take the CLI down
            raise UnlearnError(
                f"component '{self.name}' could not be loaded from {self.target}: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        return obj


@dataclass
class ImportedCheckpoint:
    """What a gan plugin's ``import_checkpoint`` returns for a foreign file.

    config:        the plugin's own architecture config (JSON-serialisable dict), such that
                   ``build(config)`` makes modules whose state dicts accept the tensors below.
    generator:     state dict of the trained generator G (required).
    generator_ema: state dict of the EMA generator, or None.
    discriminator: state dict of D, or None for generator-only files.
    source_format: short name of what was read, e.g. ``"rosinality-pt"``.
    warnings:      one-line messages the CLI shows (e.g. "no discriminator in file").
    """

    config: dict
    generator: dict
    generator_ema: dict | None = None
    discriminator: dict | None = None
    source_format: str = ""
    warnings: list[str] = field(default_factory=list)


@dataclass
class ExportedModel:
    """What a gan plugin's optional ``export(parts, config, naming)`` returns.

    entries:  the file's top level in the target tool's names: each value a tensor (e.g.
              ``latent_avg``) or a state dict ``{name: tensor}`` (e.g. ``g_ema``). The core
              writes it as a ``torch.save`` dict, or flat (``g_ema.style.1.weight``) as safetensors.
    settings: plain JSON values the target's own code needs to build networks that load these
              state dicts (its constructor arguments); stored beside the tensors and printed.
    notes:    one-line remarks the CLI shows (e.g. "their stock constructor cannot build these
              widths").
    """

    entries: dict
    settings: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


# The gan plugin contract, written as a Protocol for documentation and type checkers.
# A gan spec's target is an object (module or instance) with these members:
#
#   name: str
#   default_config() -> dict
#   validate_config(config: dict) -> dict
#       fill defaults, raise UnlearnError naming a bad key; the result goes into model files.
#   build(config: dict) -> (G, D)
#       torch modules. G has z_dim, img_resolution, img_channels and
#       G(z, truncation_psi=1.0, noise_mode="random"|"const"|"none") -> images in [-1, 1], NCHW.
#       D(images) -> logits of shape [N].
#   can_import(path) -> bool
#       cheap check whether import_checkpoint understands this foreign file.
#   import_checkpoint(path) -> ImportedCheckpoint
#       read a foreign checkpoint safely (no arbitrary unpickling), raise UnlearnError if refused.
# Optional training extras (the core's loop uses them when present, never checks the arch name):
#   generate_for_training(G, z) -> images       e.g. StyleGAN2 style mixing
#   generator_regularizer(G, batch_size, step) -> scalar tensor or None   e.g. path length
# Optional export (`gan-unlearn export`, `run --export`; docs/plugins/hooks.md):
#   export_formats: dict[str, str]      torch.save format name -> naming, e.g. {"rosinality": "rosinality"}
#   export_for_import: dict[str, str]   ImportedCheckpoint.source_format -> its export format
#   export(parts, config, naming) -> ExportedModel   raise UnlearnError for what a naming cannot express


@dataclass
class SampleSets:
    """What a negative source returns.

    negatives:   float tensor [N, C, H, W] in [-1, 1]: the samples to forget.
    positives:   float tensor [M, C, H, W] in [-1, 1]: what unlearning trains on.
    positives_note: one sentence on how positives were chosen (shown in the report).
    stats:       JSON-serialisable facts (tried, flagged, class counts, ...).
    """

    negatives: Any
    positives: Any
    positives_note: str = ""
    stats: dict = field(default_factory=dict)


@dataclass
class SourceContext:
    """What the core hands a negative source's ``collect(context)``.

    generate(n, seed) -> images [n, C, H, W] in [-1, 1] from the pre-trained generator, batched,
                         deterministic for a seed (the core owns the model and the device).
    classifier:  a loaded classifier (see plugins/classifiers) or None.
    resolution, channels: what the GAN makes; images must be converted to this.
    options:     the run's resolved config as a dict (neg, target, threshold, candidates,
                 max_negatives, pick, pick_file, seed, ...).
    out_dir:     the run folder; sources save what the user should see (e.g. the numbered grid).
    ask(prompt) -> str: reads an answer from the terminal (tests replace it).
    """

    generate: Any
    classifier: Any
    resolution: int
    channels: int
    options: dict
    out_dir: Any
    ask: Any = None
    device: str = "cpu"


def model_source_context(ckpt: str, gan: str | None = None, device: str = "auto",
                         options: dict | None = None, out_dir: Any = None) -> SourceContext:
    """A SourceContext over a model file (or ``bundled:NAME``), generating as a run would.

    For plugin commands that show a model's samples outside a run (e.g. ``gan-unlearn pick``).
    ``options`` start from the run defaults with ``ckpt`` and ``gan`` set. Loads torch.
    """
    from unlearn_cli.config import RunConfig
    from unlearn_cli.engine.devices import pick_device
    from unlearn_cli.engine.models import generate, load_gan

    dev = pick_device(device)
    G = load_gan(ckpt, gan, str(dev)).G_ema
    opts = {**RunConfig().model_dump(mode="json"), "ckpt": ckpt, "gan": gan, **(options or {})}

    def gen(n: int, seed: int):
        return generate(G, n, seed, str(dev))

    return SourceContext(generate=gen, classifier=None, resolution=G.img_resolution,
                         channels=G.img_channels, options=opts, out_dir=out_dir, device=str(dev))
