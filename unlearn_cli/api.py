"""The public API plugins build on: light spec records, the plugin kinds, the error type.

Plugins import from here (and from `unlearn_cli.hookimpl`), never from the core's internals.
Nothing in this module imports torch: spec records name their implementation as a lazy
``"module:attr"`` target that is imported only when the component is used.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from unlearn_cli.errors import UnlearnError

__all__ = ["ComponentSpec", "ComponentOptions", "NoOptions", "KINDS", "UnlearnError", "compact_images", "images_as_float"]

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
    options: free-form, kind-specific facts the core may read without importing the target
             (a dataset's ``classes``, ``model``, ``classifier``; a classifier's ``classes``).

    What users may set (docs/plugins/hooks.md, "Options"):

    options_model: the component's typed options: a pydantic model (subclass
             :class:`ComponentOptions`) or ``"module:attr"`` naming one, imported only when the
             options are needed (so this module stays cheap to import). Its fields, defaults and
             descriptions are what ``-o KEY=VALUE``, ``<kind>_options:`` in YAML, ``run --help``
             and ``list-plugins --options`` use; values are checked against it before anything
             loads. None: the component takes no options.

    Facts the core acts on (it never tests a component's name):

    needs_classifier: a source that cannot work without ``--classifier``.
    interactive:  a source that may ask the user (``context.ask``); with several processes it
                  is refused unless one of ``answers_from`` (option keys) is set.
    answers_from: option keys that, when set, let an interactive source run without asking.
    keeps:        files the component writes into the run folder that make a failed run's
                  folder worth keeping (e.g. the numbered grid users pick from).
    chosen_by:    a run key (``neg``) that, given without ``--source``, chooses this source.
    """

    name: str
    summary: str
    target: str
    options: dict[str, Any] = field(default_factory=dict)
    options_model: Any = None
    needs_classifier: bool = False
    interactive: bool = False
    answers_from: tuple[str, ...] = ()
    keeps: tuple[str, ...] = ()
    chosen_by: str | None = None

    def load(self) -> Any:
        """Import and return the implementation this spec names."""
        return _import_target(self.target, f"component '{self.name}'")

    def options_class(self) -> Any:
        """The options model (imported if named as ``"module:attr"``), or None."""
        model = self.options_model
        if isinstance(model, str):
            model = _import_target(model, f"the options of component '{self.name}'")
        return model


def _import_target(target: str, what: str) -> Any:
    module_name, _, attr = target.partition(":")
    try:
        obj = importlib.import_module(module_name)
        for part in filter(None, attr.split(".")):
            obj = getattr(obj, part)
    except Exception as exc:  # a broken plugin must not take the CLI down
        raise UnlearnError(f"{what} could not be loaded from {target}: "
                           f"{type(exc).__name__}: {exc}") from exc
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
#   discriminate_chunks(D, images, chunks) -> logits [N]   D over `chunks` stacked equal batches
#       in one pass, each keeping its own batch statistics (e.g. minibatch stddev)
# Optional export (`gan-unlearn export`, `run --export`; docs/plugins/hooks.md):
#   export_formats: dict[str, str]      torch.save format name -> naming, e.g. {"rosinality": "rosinality"}
#   export_for_import: dict[str, str]   ImportedCheckpoint.source_format -> its export format
#   export(parts, config, naming) -> ExportedModel   raise UnlearnError for what a naming cannot express


@dataclass
class SampleSets:
    """What a negative source returns.

    negatives:   float tensor [N, C, H, W] in [-1, 1]: the samples to forget.
    positives:   float tensor [M, C, H, W] in [-1, 1]: what unlearning trains on.
                 Either set may instead be uint8 (0..255 meaning [-1, 1]), the compact form
                 :func:`compact_images` gives large images: a source that collects thousands
                 of them should keep them that way (memory stays flat).
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

    generate_from(z), latents(n, seed), z_dim: generation from given latents (see below).

    generate(n, seed) -> images [n, C, H, W] in [-1, 1] from the pre-trained generator, batched,
                         deterministic for a seed (the core owns the model and the device).
    classifier:  a loaded classifier (see plugins/classifiers) or None.
    resolution, channels: what the GAN makes; images must be converted to this.
    options:     the run's settings (neg, target, seed, ckpt, ...) and, at the top level, the
                 source's own resolved options (its options_model's fields, defaults filled:
                 e.g. candidates, threshold); ``options_of(context, Model)`` reads them typed.
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
    #: generate_from(z) -> images [n, C, H, W] for given latents z [n, z_dim] (batched, on the
    #: core's device): for sources that choose, edit or reuse latents
    generate_from: Any = None
    z_dim: int = 0

    def latents(self, n: int, seed: int):
        """The latents ``generate(n, seed)`` uses: [n, z_dim] float32 on the CPU, the same on any
        device, so ``generate_from(latents(n, seed))`` equals ``generate(n, seed)``."""
        return latents(n, self.z_dim, seed)


def compact_images(images):
    """The form to keep a set of generated images in: uint8 for large images (64 px RGB and
    up; 4x smaller), contiguous float32 otherwise. The core stores sample sets this way."""
    from unlearn_cli.engine.sample_store import compact
    return compact(images)


def images_as_float(images):
    """Images in [-1, 1] as float32, whether kept as float or in the compact uint8 form."""
    from unlearn_cli.engine.sample_store import as_float
    return as_float(images)


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

    def gen_from(z):
        from unlearn_cli.engine.models import generate_from
        return generate_from(G, z, str(dev))

    return SourceContext(generate=gen, classifier=None, resolution=G.img_resolution,
                         channels=G.img_channels, options=opts, out_dir=out_dir, device=str(dev),
                         generate_from=gen_from, z_dim=G.z_dim)


# --------------------------------------------------------------------------- helpers for plugins
# Thin wrappers over the core's own functions (imported when called, so importing this module
# stays cheap): a plugin that uses them reads, converts and writes exactly as the core does.

def latents(n: int, z_dim: int, seed: int):
    """``n`` latents of size ``z_dim`` seeded by ``seed``: float32 on the CPU (any device agrees)."""
    from unlearn_cli.engine.models import latents as core_latents
    return core_latents(n, z_dim, seed)


def read_images(images, resolution: int, channels: int, *, min_count: int = 1,
                background: str = "black", what: str = "image folder"):
    """A folder of images (read recursively, sorted) or a list of image files (in that order)
    as a float32 tensor [N, channels, resolution, resolution] in [-1, 1]: centre-cropped,
    resized and converted as ``--neg`` folders are (docs/sources.md). Problems (missing path,
    no images, an unreadable file, fewer than ``min_count``) are one-line UnlearnErrors."""
    from unlearn_cli.io import images as io_images

    if isinstance(images, (list, tuple)):
        if len(images) < min_count:
            raise UnlearnError(f"{what} names {len(images)} image(s), at least {min_count} are "
                               f"needed; add more images")
        return io_images.read_image_files(images, resolution, channels, background, what)
    return io_images.read_image_folder(images, resolution, channels, min_count=min_count,
                                       background=background, what=what)


def save_grid(images, path, nrow: int | None = None, numbers: bool = False):
    """Images in [-1, 1] (clamped) as one PNG grid, written atomically; returns the path.
    ``numbers=True`` labels each cell 1, 2, ... (the numbers users type for ``--pick``)."""
    from unlearn_cli.io.images import save_grid as core_save_grid
    return core_save_grid(images, path, nrow=nrow, numbers=numbers)


def to_uint8(images):
    """Images in [-1, 1] (torch or numpy, NCHW) -> numpy uint8 NHWC, rounded as our PNGs are."""
    from unlearn_cli.io.images import to_uint8 as core_to_uint8
    return core_to_uint8(images)


def write_text(path, text: str) -> None:
    """Write a text file atomically (temporary file + rename): never half-written."""
    from unlearn_cli.io.atomic import write_text as core_write_text
    core_write_text(path, text)


def sha256_file(path) -> str:
    """The sha256 of a file, hex (how runs and model files name their parents)."""
    from unlearn_cli.io.atomic import sha256_file as core_sha256_file
    return core_sha256_file(path)


def save_model(path, parts: dict, *, gan: str, config: dict, stage: str = "pretrained",
               params: dict | None = None) -> str:
    """Write a gan-unlearn model file (what ``--ckpt`` takes) atomically; returns its sha256.
    ``parts``: {"G": state_dict, "G_ema": ..., "D": ...}; ``gan``: the gan plugin's name;
    ``config``: its validated config; ``stage``: pretrained, adapted, unlearned or trained."""
    from unlearn_cli.io.modelfile import save_model as core_save_model
    return core_save_model(path, parts, gan=gan, config=config, stage=stage, params=params)


def load_model(path, device: str = "cpu"):
    """A gan-unlearn model file: ``.header`` (gan, config, stage, params, plugins, ...),
    ``.parts`` ({"G": state_dict, ...}) and ``.sha256``. Never executes code from the file."""
    from unlearn_cli.io.modelfile import load_model_file
    return load_model_file(path, device)


def component_names(kind: str) -> list[str]:
    """The names of the installed components of ``kind`` (one of :data:`KINDS`)."""
    from unlearn_cli.plugins import get_registry
    return get_registry().names(kind)


def load_component(kind: str, name: str):
    """The implementation of component ``name`` (bare or ``DIST:NAME``) of ``kind``: what its
    spec's target names, e.g. a repulsion factory. Unknown or ambiguous names are UnlearnErrors."""
    from unlearn_cli.plugins import get_registry
    return get_registry().load(kind, name)


# --------------------------------------------------------------------------- the contracts
# What each kind's spec target must be, as Protocols for documentation and type checkers
# (docs/plugins/hooks.md explains each; unlearn_cli.testing checks them).

@runtime_checkable
class Generator(Protocol):
    """A torch module: ``G(z, truncation_psi=1.0, noise_mode="random"|"const")`` -> images
    [N, img_channels, img_resolution, img_resolution] in [-1, 1] for any z and any weights."""

    z_dim: int
    img_resolution: int
    img_channels: int

    def __call__(self, z: Any, truncation_psi: float = 1.0, noise_mode: str = "random") -> Any: ...


@runtime_checkable
class Discriminator(Protocol):
    """A torch module: ``D(images)`` -> logits of shape [N]."""

    def __call__(self, images: Any) -> Any: ...


@runtime_checkable
class GanPlugin(Protocol):
    """A gan spec's target (see the comment above SampleSets for the optional extras)."""

    name: str

    def default_config(self) -> dict: ...
    def validate_config(self, config: dict) -> dict: ...
    def build(self, config: dict) -> tuple[Generator, Discriminator]: ...
    def can_import(self, path: Any) -> bool: ...
    def import_checkpoint(self, path: Any) -> ImportedCheckpoint: ...


class Source(Protocol):
    """A source spec's target: ``collect(context)`` -> SampleSets (checked by the core)."""

    def __call__(self, context: SourceContext) -> SampleSets: ...


@runtime_checkable
class Classifier(Protocol):
    """What a classifier's ``load`` returns: ``probs`` [N, K] rows summing to 1 (K =
    len(classes)), ``features`` [N, F]; images NCHW in [-1, 1] of the GAN's size and channels."""

    classes: list[str]

    def probs(self, images: Any) -> Any: ...
    def features(self, images: Any) -> Any: ...


class ClassifierLoader(Protocol):
    """A classifier spec's target: ``load(path_or_none, device)`` -> Classifier."""

    def __call__(self, path: Any, device: str) -> Classifier: ...


class RepulsionLoss(Protocol):
    """``loss(d)`` -> a finite scalar tensor that decreases as d (a 0-d tensor, 1 when unlearning
    starts) grows, built from d with torch operations."""

    def __call__(self, d: Any) -> Any: ...


class Repulsion(Protocol):
    """A repulsion spec's target: ``factory(**options)`` -> RepulsionLoss."""

    def __call__(self, **options: Any) -> RepulsionLoss: ...


class MethodJob(Protocol):
    """What a method receives: the run's config and the stages it composes."""

    config: Any

    def adapt_models(self) -> list: ...
    def unlearn(self, adapted: list, use_repulsion: bool = True) -> Any: ...
    def save_unlearned(self, G_ema: Any, G: Any = None, D: Any = None) -> str: ...


class Method(Protocol):
    """A method spec's target: ``method(job)`` -> None; it must call ``job.save_unlearned``."""

    def __call__(self, job: MethodJob) -> None: ...


class Dataset(Protocol):
    """A dataset spec's target: ``load(resolution, channels)`` -> (images [N, C, H, W] float in
    [-1, 1], integer labels or None)."""

    def __call__(self, resolution: int, channels: int) -> tuple[Any, Any]: ...


__all__ += [
    "ImportedCheckpoint", "ExportedModel", "SampleSets", "SourceContext", "model_source_context",
    "latents", "read_images", "save_grid", "to_uint8", "write_text", "sha256_file",
    "save_model", "load_model", "component_names",
    "load_component",
    "Generator", "Discriminator", "GanPlugin", "Source", "Classifier", "ClassifierLoader",
    "RepulsionLoss", "Repulsion", "MethodJob", "Method", "Dataset",
    "ClassifierBase", "finish_classifier", "adapt_images", "options_of",
    "save_classifier_file", "read_classifier_file", "load_classifier_file", "build_classifier",
    "check_readable",
]

#: torch-backed helpers, imported on first use so that importing this module stays cheap
_LAZY = {"ClassifierBase": "Classifier", "finish_classifier": "finish", "adapt_images": "adapt_images"}
#: pydantic-backed, imported on first use (plugins name their options model lazily too)
_LAZY_CLASSIFIER_FILE = ("save_classifier_file", "read_classifier_file", "load_classifier_file", "build_classifier")
_LAZY_OPTIONS = {"ComponentOptions": "ComponentOptions", "NoOptions": "NoOptions", "options_of": "options_of"}


def __getattr__(name: str):
    """``ClassifierBase`` (subclass it: resizing, channel conversion, probs), ``finish_classifier``
    (device, eval mode, frozen: what a classifier's load returns), ``adapt_images``; see
    unlearn_cli/classifier_base.py. They import torch, so they load when first asked for."""
    if name in _LAZY_OPTIONS:
        from unlearn_cli import component_options
        return getattr(component_options, _LAZY_OPTIONS[name])
    if name == "check_readable":  # a regular file we may read, else a one-line error (io/readable.py)
        from unlearn_cli.io.readable import check_readable
        return check_readable
    if name in _LAZY_CLASSIFIER_FILE:  # the classifier file format, unlearn_cli/classifier_file.py
        from unlearn_cli import classifier_file
        return getattr(classifier_file, name)
    if name in _LAZY:
        from unlearn_cli import classifier_base
        return getattr(classifier_base, _LAZY[name])
    raise AttributeError(f"module 'unlearn_cli.api' has no attribute '{name}'")
