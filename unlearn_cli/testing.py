"""Conformance checks for gan-unlearn plugins, and pytest fixtures (this module is a pytest plugin).

Call the checks from your plugin's tests; each raises ``AssertionError`` naming what is wrong and
what the contract (docs/plugins/hooks.md) asks for::

    from unlearn_cli.testing import check_repulsion
    from my_plugin.repulsion import softplus

    def test_softplus_conforms():
        check_repulsion(softplus)

Checks: :func:`check_plugin_module` (any plugin), :func:`check_gan_plugin`,
:func:`check_repulsion`, :func:`check_source`, :func:`check_classifier`.

gan-unlearn registers this module as a pytest plugin (entry point ``pytest11``), so these fixtures
are available in every test without an import: ``gan_unlearn_registry``, ``gan_unlearn_cli``,
``gan_unlearn_tiny_gan`` and ``gan_unlearn_source_context``. torch is imported inside the
functions, so loading the plugin costs pytest nothing.
"""
from __future__ import annotations

import importlib
import json
import math
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable

import pytest

from unlearn_cli.api import ComponentSpec, KINDS, SampleSets, SourceContext

__all__ = ["check_plugin_module", "check_gan_plugin", "check_repulsion", "check_source",
           "check_classifier", "tiny_gan_file", "make_source_context"]

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
GAN_MEMBERS = ("name", "default_config", "validate_config", "build", "can_import",
               "import_checkpoint")


def _fail(message: str) -> None:
    raise AssertionError(message)


# --------------------------------------------------------------------------- any plugin
def check_plugin_module(module_name: str, *, cheap_import: bool = True) -> dict[str, list[ComponentSpec]]:
    """A plugin module: known hooks only, each marked ``@hookimpl``, well-formed specs whose
    targets load, and (``cheap_import``) importing it and calling its hooks does not import torch.

    Returns ``{kind: [specs]}``.
    """
    from unlearn_cli import hookspecs

    module = importlib.import_module(module_name)
    known = {n for n in dir(hookspecs) if n.startswith("register_")}
    found: dict[str, list[ComponentSpec]] = {}
    for attr in dir(module):
        fn = getattr(module, attr)
        if not attr.startswith("register_") or not callable(fn):
            continue
        if attr not in known:
            _fail(f"{module_name}.{attr} is not a gan-unlearn hook (known: {', '.join(sorted(known))}); "
                  f"a misspelt hook is silently never called")
        if getattr(fn, "gan_unlearn_impl", None) is None:
            _fail(f"{module_name}.{attr} lacks @unlearn_cli.hookimpl, so it is never called")
        if attr == "register_commands":
            continue
        kind = next(k for k, hook in KINDS.items() if hook == attr)
        found[kind] = _check_specs(f"{module_name}.{attr}()", fn())
    if not found and not hasattr(module, "register_commands"):
        _fail(f"{module_name} implements no gan-unlearn hook")
    if cheap_import:
        _check_no_torch(module_name, [KINDS[k] for k in found])
    return found


def _check_specs(where: str, specs: Any) -> list[ComponentSpec]:
    if not isinstance(specs, list):
        _fail(f"{where} must return a list of ComponentSpec, got {type(specs).__name__}")
    names = set()
    for spec in specs:
        if not isinstance(spec, ComponentSpec):
            _fail(f"{where} returned {spec!r}; each item must be an unlearn_cli.api.ComponentSpec")
        if not NAME_RE.match(spec.name):
            _fail(f"{where}: name {spec.name!r} must be lower-case letters, digits, '.', '_' or '-'")
        if spec.name in names:
            _fail(f"{where}: name {spec.name!r} is offered twice")
        names.add(spec.name)
        if not spec.summary.strip() or "\n" in spec.summary:
            _fail(f"{where}: '{spec.name}' needs a one-line summary (shown by list-plugins)")
        if ":" not in spec.target:
            _fail(f"{where}: '{spec.name}' target {spec.target!r} must be 'package.module:attr'")
        try:
            spec.load()
        except Exception as exc:
            _fail(f"{where}: {exc}")
    return specs


def _check_no_torch(module_name: str, hooks: list[str]) -> None:
    calls = "".join(f"m.{h}();" for h in hooks)
    code = (f"import importlib, sys; sys.path[:0] = {sys.path!r}; "
            f"m = importlib.import_module({module_name!r}); {calls}"
            f"sys.exit(3 if 'torch' in sys.modules else 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    if result.returncode == 3:
        _fail(f"importing {module_name} (and calling its register hooks) imports torch; import it "
              f"inside the functions that need it, so `gan-unlearn --help` stays fast")
    if result.returncode != 0:
        _fail(f"importing {module_name} in a fresh interpreter failed: {result.stderr[-800:]}")


# --------------------------------------------------------------------------- gan
def check_gan_plugin(plugin: Any, config: dict | None = None, *, batch: int = 2,
                     check_range: bool = True) -> None:
    """A gan target: config handling, G/D shapes and range, gradients, optional extras, and a
    save/load round trip through our model file with identical outputs.

    ``config`` defaults to ``plugin.default_config()``; pass a small one to keep tests fast.
    ``check_range=True`` checks images lie in [-1, 1] at initialisation and also for large
    latents and grown weights (a generator without an output bound fails); ``check_range=False``
    skips both (for a model without a final tanh, such as StyleGAN2, whose outputs overshoot a
    little; the core still refuses values far outside [-1, 1], see engine/seams.py).
    """
    import torch

    for member in GAN_MEMBERS:
        if not hasattr(plugin, member):
            _fail(f"gan plugin {plugin!r} lacks '{member}' (needs: {', '.join(GAN_MEMBERS)})")
    if not isinstance(plugin.name, str) or not NAME_RE.match(plugin.name):
        _fail(f"gan plugin name must be a lower-case string, got {plugin.name!r}")
    config = plugin.validate_config(plugin.default_config() if config is None else config)
    if not isinstance(config, dict):
        _fail(f"validate_config must return a dict, got {type(config).__name__}")
    try:
        json.dumps(config)
    except TypeError as exc:
        _fail(f"validate_config's result goes into model files and must be JSON-serialisable: {exc}")
    again = plugin.validate_config(json.loads(json.dumps(config)))
    if again != config:
        _fail(f"validate_config is not idempotent: validating its own (JSON round-tripped) "
              f"result gave {again!r} instead of {config!r}")
    G, D = _build(plugin, config)
    for attr in ("z_dim", "img_resolution", "img_channels"):
        value = getattr(G, attr, None)
        if not isinstance(value, int) or value < 1:
            _fail(f"G.{attr} must be a positive int, got {value!r}")
    z = torch.randn(batch, G.z_dim, generator=torch.Generator().manual_seed(0))
    images, logits = _check_forward(plugin, G, D, z, check_range)
    if check_range:
        _check_bounded(G, z)
    _check_gradients(G, D, z)
    _check_extras(plugin, G, D, z, batch, images.shape)
    _check_round_trip(plugin, config, G, D, z, images, logits)
    _check_can_import(plugin)
    _check_export(plugin, config, G, D)


def _build(plugin, config):
    from torch import nn

    built = plugin.build(config)
    if not (isinstance(built, tuple) and len(built) == 2):
        _fail(f"build(config) must return a (G, D) tuple, got {type(built).__name__}")
    G, D = built
    if not (isinstance(G, nn.Module) and isinstance(D, nn.Module)):
        _fail("build(config) must return two torch.nn.Module objects (G, D)")
    return G.eval(), D.eval()


def _check_forward(plugin, G, D, z, check_range):
    import torch

    want = (len(z), G.img_channels, G.img_resolution, G.img_resolution)
    with torch.no_grad():
        images = G(z, truncation_psi=1.0, noise_mode="const")
        again = G(z, truncation_psi=1.0, noise_mode="const")
        G(z, truncation_psi=0.7, noise_mode="random")
        G(z)
    if tuple(images.shape) != want:
        _fail(f"G(z) must return [N, img_channels, img_resolution, img_resolution] = {list(want)}, "
              f"got {list(images.shape)}")
    if not torch.isfinite(images).all():
        _fail("G(z) returned NaN or infinite values")
    if check_range and (images.min() < -1 or images.max() > 1):
        _fail(f"G(z) must return images in [-1, 1], got values in "
              f"[{float(images.min()):.3g}, {float(images.max()):.3g}]")
    if not torch.equal(images, again):
        _fail("G(z, noise_mode='const') must be deterministic: two calls with the same z differ")
    with torch.no_grad():
        logits = D(images)
    if tuple(logits.shape) != (len(z),):
        _fail(f"D(images) must return logits of shape [N] = [{len(z)}], got {list(logits.shape)}")
    if not torch.isfinite(logits).all():
        _fail("D(images) returned NaN or infinite logits")
    return images, logits


def _check_bounded(G, z):
    """The [-1, 1] contract must hold for any weights and latents, not only at initialisation
    (where small weights keep an unbounded output small): check large latents, and weights
    grown as training may grow them. A final tanh (or a clamp) gives this."""
    import copy

    import torch

    grown = copy.deepcopy(G).eval()
    with torch.no_grad():
        for p in grown.parameters():
            if p.is_floating_point():
                p.mul_(4.0)
        trials = (("large latents (30 * z)", G, z * 30),
                  ("weights grown 4x, as training may grow them", grown, z),
                  ("both", grown, z * 30))
        for what, model, latent in trials:
            images = model(latent, truncation_psi=1.0, noise_mode="const")
            if not torch.isfinite(images).all():
                _fail(f"G(z) returned NaN or infinite values for {what}")
            if images.min() < -1 or images.max() > 1:
                _fail(f"G(z) has no output bound: for {what} its images lie in "
                      f"[{float(images.min()):.3g}, {float(images.max()):.3g}], outside [-1, 1]; "
                      f"end the generator with tanh (or clamp), or pass check_range=False if "
                      f"images outside [-1, 1] are intended")


def _check_gradients(G, D, z):
    G.zero_grad(set_to_none=True)
    D(G(z)).sum().backward()
    g_grads = [p.grad for p in G.parameters() if p.requires_grad]
    if not g_grads or all(g is None or not g.abs().sum() for g in g_grads):
        _fail("D(G(z)) gives no gradient to G's parameters: training cannot change G")
    G.zero_grad(set_to_none=True)
    D.zero_grad(set_to_none=True)


def _check_chunks(chunked, G, D, z):
    """discriminate_chunks over two stacked batches must equal one D call per batch."""
    import torch

    with torch.no_grad():
        images = G(z)
        second = G(torch.randn(z.shape, generator=torch.Generator().manual_seed(1)).to(z))
        alone = torch.cat([D(images), D(second)])
        joint = chunked(D, torch.cat([images, second]), 2)
    if tuple(joint.shape) != tuple(alone.shape):
        _fail(f"discriminate_chunks(D, images, 2) must return logits shaped {list(alone.shape)}, "
              f"got {list(joint.shape)}")
    if not torch.allclose(joint, alone, atol=1e-4, rtol=1e-3):
        _fail("discriminate_chunks(D, images, 2) differs from one D call per batch: each batch "
              "must keep its own statistics")


def _check_extras(plugin, G, D, z, batch, shape):
    import torch

    fn = getattr(plugin, "generate_for_training", None)
    if fn is not None:
        out = fn(G, z)
        if tuple(out.shape) != tuple(shape):
            _fail(f"generate_for_training(G, z) must return images shaped like G(z) "
                  f"{list(shape)}, got {list(out.shape)}")
    chunked = getattr(plugin, "discriminate_chunks", None)
    if chunked is not None:
        _check_chunks(chunked, G, D, z)
    reg = getattr(plugin, "generator_regularizer", None)
    if reg is not None:
        for step in (0, 1):
            value = reg(G, batch, step)
            if value is not None and not (torch.is_tensor(value) and value.numel() == 1
                                          and torch.isfinite(value).all()):
                _fail(f"generator_regularizer(G, batch_size, step={step}) must return None or a "
                      f"finite scalar tensor, got {value!r}")
    names_fn = getattr(plugin, "ewc_parameters", None)
    if names_fn is not None:
        names = names_fn(G)
        if names is not None:
            unknown = set(names) - {n for n, _ in G.named_parameters()}
            if unknown:
                _fail(f"ewc_parameters(G) names parameters G does not have: {sorted(unknown)[:5]}")


def _check_round_trip(plugin, config, G, D, z, images, logits):
    import torch

    from unlearn_cli.io.modelfile import load_model_file, save_model

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.safetensors"
        save_model(path, {"G": G.state_dict(), "G_ema": G.state_dict(), "D": D.state_dict()},
                   gan=plugin.name, config=config, stage="pretrained")
        model = load_model_file(path)
    config2 = plugin.validate_config(model.header.config)
    if config2 != config:
        _fail(f"the config read back from a model file validates to {config2!r}, not {config!r}")
    G2, D2 = _build(plugin, config2)
    for module, part in ((G2, "G"), (D2, "D")):
        try:
            module.load_state_dict(model.parts[part], strict=True)
        except RuntimeError as exc:
            _fail(f"{part}'s state dict does not survive a model-file round trip: {exc}")
    with torch.no_grad():
        images2 = G2(z, truncation_psi=1.0, noise_mode="const")
        logits2 = D2(images)
    if not torch.equal(images, images2):
        _fail("after a save_model/load_model_file round trip G gives different images for the "
              "same z: some state is not in state_dict() (use buffers, not plain attributes)")
    if not torch.equal(logits, logits2):
        _fail("after a save_model/load_model_file round trip D gives different logits")


def _check_can_import(plugin):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "not-a-checkpoint.pt"
        path.write_text("not a checkpoint\n")
        answer = plugin.can_import(path)
    if answer is not False:
        _fail(f"can_import(a text file) must return False, got {answer!r}")


def _check_export(plugin, config, G, D):
    """Only for plugins that declare ``export_formats``: each naming gives an ExportedModel of
    tensors (or state dicts of tensors) and JSON settings, for models with and without D, or
    refuses this config with a one-line UnlearnError."""
    import torch

    from unlearn_cli.api import ExportedModel, UnlearnError

    formats = getattr(plugin, "export_formats", None)
    if formats is None:
        return
    if not isinstance(formats, dict) or not formats or not callable(getattr(plugin, "export", None)):
        _fail("export_formats must be a non-empty dict {format: naming} and come with export()")
    if "safetensors" in formats:
        _fail("'safetensors' is the core's format (any naming, flat); do not declare it")
    full = {"G": G.state_dict(), "G_ema": G.state_dict(), "D": D.state_dict()}
    for parts in (full, {k: v for k, v in full.items() if k != "D"}):
        for naming in dict.fromkeys(formats.values()):
            try:
                out = plugin.export(parts, config, naming)
            except UnlearnError as exc:  # a naming that cannot express this config may say so
                if "\n" in str(exc) or not str(exc):
                    _fail(f"export(..., {naming!r}) refused with a message that is not one line")
                continue
            if not isinstance(out, ExportedModel) or not out.entries:
                _fail(f"export(..., {naming!r}) must return a non-empty unlearn_cli.api.ExportedModel")
            for key, value in out.entries.items():
                tensors = value.values() if isinstance(value, dict) else [value]
                if not all(isinstance(t, torch.Tensor) for t in tensors):
                    _fail(f"export(..., {naming!r}): entry {key!r} must be a tensor or a dict of tensors")
            try:
                json.dumps(out.settings)
            except TypeError as exc:
                _fail(f"export(..., {naming!r}).settings must be JSON values: {exc}")


# --------------------------------------------------------------------------- repulsion
def check_repulsion(factory: Callable, options: dict | None = None,
                    grid: list[float] | None = None) -> None:
    """A repulsion factory: ``factory(**options)`` returns ``loss(d)``, a scalar tensor that is
    finite on ``grid`` (default 0 to 4, including d = 0), strictly decreasing in d, with a
    negative gradient at every point. The core passes the repulsion's options (its spec's
    options_model, defaults filled); one without an options model gets ``alpha`` and ``eps``."""
    import torch

    options = {"alpha": 1.0, "eps": 1e-3} if options is None else options
    try:
        loss_fn = factory(**options)
    except TypeError as exc:
        _fail(f"the core calls factory(**options) with the repulsion's options (alpha=..., eps=... "
              f"when it declares no options_model): accept them, or **options ({exc})")
    if not callable(loss_fn):
        _fail(f"factory(**{options}) must return a callable loss(d), got {loss_fn!r}")
    grid = [i / 10 for i in range(41)] if grid is None else grid
    values, grads = [], []
    for point in grid:
        d = torch.tensor(float(point), requires_grad=True)
        loss = loss_fn(d)
        if not torch.is_tensor(loss) or loss.numel() != 1:
            _fail(f"loss(d) must return a scalar tensor, got {loss!r} at d={point}")
        if not torch.isfinite(loss).all():
            _fail(f"loss(d) is not finite at d={point}: {float(loss.detach())}")
        if not loss.requires_grad:
            _fail(f"loss(d) at d={point} carries no gradient: build it from d with torch operations")
        values.append(float(loss.detach()))
        grads.append(float(torch.autograd.grad(loss.reshape(()), d)[0]))
    for (d0, v0), (d1, v1) in zip(zip(grid, values), zip(grid[1:], values[1:])):
        if not v1 < v0:
            _fail(f"loss(d) must decrease strictly as d grows: loss({d0})={v0:.6g} but "
                  f"loss({d1})={v1:.6g}")
    for point, grad in zip(grid, grads):
        if not (math.isfinite(grad) and grad < 0):
            _fail(f"dloss/dd must be negative (minimising the loss pushes d up), got "
                  f"{grad:.4g} at d={point}")


# --------------------------------------------------------------------------- source
def check_source(collect: Callable, context: SourceContext) -> SampleSets:
    """A negative source: ``collect(context)`` returns SampleSets whose negatives and positives
    are non-empty float tensors [N, channels, resolution, resolution] in [-1, 1], a one-sentence
    note and JSON-serialisable stats. Returns the SampleSets."""
    import torch

    sets = collect(context)
    if not isinstance(sets, SampleSets):
        _fail(f"collect(context) must return unlearn_cli.api.SampleSets, got {type(sets).__name__}")
    want = (context.channels, context.resolution, context.resolution)
    for what in ("negatives", "positives"):
        images = getattr(sets, what)
        if not torch.is_tensor(images) or not images.is_floating_point():
            _fail(f"SampleSets.{what} must be a float tensor, got {type(images).__name__}")
        if images.dim() != 4 or tuple(images.shape[1:]) != want:
            _fail(f"SampleSets.{what} must be shaped [N, {want[0]}, {want[1]}, {want[2]}] "
                  f"(the GAN's channels and resolution), got {list(images.shape)}")
        if len(images) == 0:
            _fail(f"SampleSets.{what} is empty: raise UnlearnError saying why instead")
        if not torch.isfinite(images).all() or images.min() < -1 or images.max() > 1:
            _fail(f"SampleSets.{what} must hold finite values in [-1, 1]")
    if not isinstance(sets.positives_note, str):
        _fail("SampleSets.positives_note must be a string (shown in the report)")
    try:
        json.dumps(sets.stats)
    except TypeError as exc:
        _fail(f"SampleSets.stats must be JSON-serialisable (it goes into metrics.json): {exc}")
    return sets


# --------------------------------------------------------------------------- classifier
def check_classifier(clf: Any, image_shapes=((1, 16, 16), (3, 32, 32)), batch: int = 3) -> None:
    """A loaded classifier: ``classes`` (distinct names), ``probs(images)`` -> [N, K] rows summing
    to 1, ``features(images)`` -> [N, F], both finite and deterministic, for images of every
    shape in ``image_shapes`` (GAN outputs of any size, 1 or 3 channels)."""
    import torch

    classes = list(getattr(clf, "classes", None) or [])
    if len(classes) < 2 or len(set(map(str, classes))) != len(classes):
        _fail(f"classifier.classes must list at least two distinct class names, got {classes!r}")
    gen = torch.Generator().manual_seed(0)
    for shape in image_shapes:
        images = torch.rand(batch, *shape, generator=gen) * 2 - 1
        with torch.no_grad():
            p, p2, f = clf.probs(images), clf.probs(images), clf.features(images)
        where = f"for images shaped {[batch, *shape]}"
        if tuple(p.shape) != (batch, len(classes)):
            _fail(f"probs must be [N, K] = {[batch, len(classes)]} {where}, got {list(p.shape)}")
        if not torch.isfinite(p).all() or p.min() < 0:
            _fail(f"probs must be finite and non-negative {where}")
        sums = p.double().sum(dim=1)
        if not torch.allclose(sums, torch.ones_like(sums), atol=1e-4):
            _fail(f"probs rows must sum to 1 {where}, got sums {sums.tolist()}")
        if not torch.allclose(p, p2):
            _fail(f"probs must be deterministic (eval mode, no dropout) {where}")
        if f.dim() != 2 or f.shape[0] != batch or f.shape[1] < 1:
            _fail(f"features must be 2-D [N, F] {where}, got {list(f.shape)}")
        if not torch.isfinite(f).all():
            _fail(f"features must be finite {where}")


# --------------------------------------------------------------------------- helpers
def tiny_gan_file(path: str | Path, seed: int = 0, resolution: int = 8, img_channels: int = 1) -> Path:
    """Write a randomly initialised tiny DCGAN model file (what ``--ckpt`` takes) and return its path."""
    import torch

    from unlearn_cli.io.modelfile import save_model
    from unlearn_cli.plugins import get_registry

    plugin = get_registry().load("gan", "dcgan")
    config = plugin.validate_config({"resolution": resolution, "z_dim": 8, "channels": 8,
                                     "img_channels": img_channels})
    torch.manual_seed(seed)
    G, D = plugin.build(config)
    save_model(path, {"G": G.state_dict(), "G_ema": G.state_dict(), "D": D.state_dict()},
               gan="dcgan", config=config, stage="pretrained")
    return Path(path)


def make_source_context(out_dir: str | Path | None = None, options: dict | None = None,
                        resolution: int = 8, channels: int = 1, classifier: Any = None,
                        answers: list[str] | None = None, source: str | None = None) -> SourceContext:
    """A SourceContext over a random tiny DCGAN, as the core would build it for a run.

    ``options`` are the run's settings and the source's own options, as a run hands them over:
    the run defaults, the options model defaults of ``source`` (a name; default: the run's
    default source), then ``options``."""
    import torch

    from unlearn_cli.config import RunConfig
    from unlearn_cli.plugins import get_registry

    plugin = get_registry().load("gan", "dcgan")
    config = plugin.validate_config({"resolution": resolution, "z_dim": 8, "channels": 8,
                                     "img_channels": channels})
    torch.manual_seed(0)
    G = plugin.build(config)[0].eval()

    def generate(n: int, seed: int):
        z = torch.randn(n, G.z_dim, generator=torch.Generator().manual_seed(seed))
        with torch.no_grad():
            return G(z, noise_mode="const")

    def generate_from(z):
        from unlearn_cli.engine.models import generate_from as core_generate_from
        return core_generate_from(G, z, "cpu")

    pending = list(answers or [])

    def ask(prompt: str) -> str:
        if not pending:
            _fail(f"the source asked {prompt!r} but the test gave no (more) answers")
        return pending.pop(0)

    run = RunConfig(source=source) if source else RunConfig()
    opts = {**run.model_dump(mode="json"), **run.source_options, **(options or {})}
    return SourceContext(generate=generate, classifier=classifier, resolution=resolution,
                         channels=channels, options=opts, out_dir=out_dir,
                         ask=ask, generate_from=generate_from, z_dim=G.z_dim)


# --------------------------------------------------------------------------- pytest hooks
def pytest_report_header(config) -> str:
    """``gan-unlearn plugins: gan-unlearn-0.1.0, my-plugin-1.0`` in every test run's header, so a
    failure report says which plugin distributions (after GAN_UNLEARN_LOAD_PLUGINS and
    GAN_UNLEARN_DISABLE_PLUGINS) were installed."""
    from unlearn_cli.plugins import build_registry, distribution_rows

    try:
        rows = distribution_rows(build_registry())
    except Exception as exc:  # a header must never stop the tests
        return f"gan-unlearn plugins: could not be listed ({type(exc).__name__}: {exc})"
    listed = ", ".join(f"{r['distribution']}-{r['version']}" + ("" if r["status"] == "ok" else " (failed)")
                       for r in rows)
    return f"gan-unlearn plugins: {listed or 'none'}"


# --------------------------------------------------------------------------- pytest fixtures
@pytest.fixture
def gan_unlearn_registry():
    """The installed plugins' registry, built afresh for the test (and forgotten after it)."""
    from unlearn_cli.plugins import get_registry, reset_registry

    reset_registry()
    yield get_registry()
    reset_registry()


@pytest.fixture
def gan_unlearn_cli(gan_unlearn_registry):
    """``invoke(*args, exit_code=0)`` runs the CLI in-process (Typer's CliRunner) on a fresh app,
    asserts the exit code (showing the output if it differs) and returns the result."""
    from typer.testing import CliRunner

    from unlearn_cli.cli.main import create_app

    def invoke(*args, exit_code: int | None = 0):
        result = CliRunner().invoke(create_app(), [str(a) for a in args])
        if exit_code is not None and result.exit_code != exit_code:
            _fail(f"gan-unlearn {' '.join(map(str, args))} exited {result.exit_code}, expected "
                  f"{exit_code}:\n{result.output}")
        return result

    return invoke


@pytest.fixture
def gan_unlearn_tiny_gan(tmp_path):
    """Path to a random tiny DCGAN model file (8 px, greyscale): ``--ckpt`` for fast test runs."""
    return tiny_gan_file(tmp_path / "tiny-dcgan.safetensors")


@pytest.fixture
def gan_unlearn_source_context(tmp_path):
    """``make(options=None, resolution=8, channels=1, classifier=None, answers=None, source=None)``:
    a SourceContext over a tiny DCGAN, options defaulting to the run defaults and those of the
    source named by ``source`` (its options model), out_dir in tmp_path."""

    def make(**kwargs):
        out_dir = tmp_path / "run"
        out_dir.mkdir(exist_ok=True)
        return make_source_context(out_dir, **kwargs)

    return make
