"""The plugin contract: every hook a plugin may implement.

A plugin is a module registered under the entry-point group ``gan_unlearn``. It implements any of
the hooks below with ``@unlearn_cli.hookimpl``. Each ``register_*`` hook takes no arguments and
returns a list of :class:`unlearn_cli.api.ComponentSpec`; the spec's ``target`` names the
implementation lazily so that listing plugins never imports torch. docs/plugins/ documents what
each kind's target must provide.
"""
from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("gan_unlearn")


@hookspec
def register_gans():
    """GAN architectures. Target: an object with ``build(config) -> (G, D)`` and
    ``import_checkpoint(path) -> ImportedCheckpoint`` (see docs/plugins/hooks.md)."""


@hookspec
def register_sources():
    """Negative-sample sources. Target: ``collect(context: SourceContext) -> SampleSets``."""


@hookspec
def register_repulsions():
    """Repulsion variants. Target: ``factory(**options) -> callable(d) -> loss``, a scalar
    tensor that decreases as the normalised squared distance ``d`` grows."""


@hookspec
def register_classifiers():
    """Classifiers used by the classifier source and by PUL/FID. Target:
    ``load(path_or_none, device) -> Classifier``."""


@hookspec
def register_methods():
    """Unlearning methods (adapt-then-unlearn, baselines). Target: ``method(job) -> None``; it
    calls ``job.adapt_models()``, ``job.unlearn(adapted)`` and ``job.save_unlearned(G_ema, G, D)``."""


@hookspec
def register_datasets():
    """Datasets of real images (for training and FID). Target: ``load(resolution, channels)``
    returning a float tensor [N, C, H, W] in [-1, 1] and integer labels or None."""


@hookspec
def register_commands(app):
    """Add commands to the CLI. ``app`` is the ``typer.Typer`` application; commands a plugin
    adds are shown in a "Plugins" help panel. Names that collide with a built-in are refused."""
