"""Checks at the seams: what a plugin hands the core is checked where the core receives it.

A source that returns the wrong shape would otherwise fail deep inside a GAN's layers, and a
repulsion that grows with distance would run to the end and quietly produce nothing. Each check
here turns a broken contract into one line that names the component and the distribution it
comes from (``who``: :meth:`unlearn_cli.plugins.Registry.label`, e.g. ``source 'mine'
(my-plugin 1.0)``). The contracts are docs/plugins/hooks.md's; the conformance checks in
``unlearn_cli.testing`` test the same things in a plugin's own tests, more thoroughly.

Checks cost one small probe or one pass over a tensor at the seam, never a host synchronisation
inside a training step.
"""
from __future__ import annotations

import contextlib
import math
from typing import Any, Callable, Iterator

import torch

from unlearn_cli.errors import UnlearnError

#: GANs without a final tanh overshoot [-1, 1] (the bundled StyleGAN2 reaches about +-1.8, a
#: randomly initialised one +-5); values beyond this bound mean another convention (0..255 pixel
#: values) or no output bound at all.
IMAGE_BOUND = 16.0
#: distances at which a repulsion is probed before a run: d is 1 when unlearning starts
REPULSION_PROBES = (0.0, 0.5, 1.0, 2.0, 4.0)
PROBS_TOLERANCE = 1e-3

_FIX = "fix the plugin or report it to its authors (docs/plugins/hooks.md)"


def refuse(who: str, problem: str) -> UnlearnError:
    return UnlearnError(f"{who} {problem}; {_FIX}")


@contextlib.contextmanager
def calling(who: str, what: str) -> Iterator[None]:
    """A plugin's own failure (anything but UnlearnError, which is already a message for the
    user) becomes one line naming the plugin, never an "internal error" of the core."""
    try:
        yield
    except UnlearnError:
        raise
    except Exception as exc:
        detail = " ".join(str(exc).split())[:300]
        raise refuse(who, f"failed in {what} ({type(exc).__name__}: {detail})") from exc


def _range(images: torch.Tensor) -> tuple[float, float]:
    return float(images.min()), float(images.max())


def check_images(images: Any, who: str, what: str, channels: int, resolution: int) -> None:
    """Images a plugin made: a float tensor in [-1, 1] (or uint8 0..255), [N, C, H, W] with the
    GAN's channels and resolution, finite."""
    want = f"[N, {channels}, {resolution}, {resolution}]"
    if not torch.is_tensor(images):
        raise refuse(who, f"returned {what} as {type(images).__name__}; it must return a tensor "
                          f"shaped {want}")
    if not (images.is_floating_point() or images.dtype == torch.uint8):
        raise refuse(who, f"returned {what} of dtype {str(images.dtype).replace('torch.', '')}; "
                          f"images are float in [-1, 1] or uint8 0..255")
    if images.dim() != 4 or tuple(images.shape[1:]) != (channels, resolution, resolution):
        raise refuse(who, f"returned {what} shaped {list(images.shape)}; the GAN makes {want} "
                          f"images (convert them to its channels and resolution)")
    if images.dtype == torch.uint8 or images.numel() == 0:
        return
    if not bool(torch.isfinite(images).all()):
        raise refuse(who, f"returned {what} with NaN or infinite values")
    low, high = _range(images)
    if low < -IMAGE_BOUND or high > IMAGE_BOUND:
        raise refuse(who, f"returned {what} with values in [{low:.4g}, {high:.4g}]; images must "
                          f"be in [-1, 1] (0..255 pixels: x / 127.5 - 1)")


def check_sample_sets(samples: Any, who: str, channels: int, resolution: int) -> None:
    """A source's result: SampleSets whose negatives and positives pass :func:`check_images`."""
    from unlearn_cli.api import SampleSets

    if not isinstance(samples, SampleSets):
        raise refuse(who, f"returned {type(samples).__name__}; collect(context) must return "
                          f"unlearn_cli.api.SampleSets")
    for what in ("negatives", "positives"):
        check_images(getattr(samples, what), who, what, channels, resolution)
    if not isinstance(samples.positives_note, str) or not isinstance(samples.stats, dict):
        raise refuse(who, "returned SampleSets whose positives_note is not a string or whose "
                          "stats is not a dict")


def check_repulsion(loss_fn: Any, who: str) -> None:
    """Before a run: ``loss_fn(d)`` is a finite scalar tensor carrying d's gradient at every
    probe distance and does not grow with d (the method minimises it to push d up)."""
    if not callable(loss_fn):
        raise refuse(who, f"returned {type(loss_fn).__name__} from its factory; it must return "
                          f"a function loss(d)")
    values = []
    for point in REPULSION_PROBES:
        d = torch.tensor(point, requires_grad=True)
        with calling(who, f"loss(d={point})"):
            value = loss_fn(d)
        check_repulsion_value(value, who)
        number = float(value.detach())
        if not math.isfinite(number):
            raise refuse(who, f"is not finite at d={point} (loss = {number})")
        if not value.requires_grad:
            raise refuse(who, f"returned a value without gradient at d={point}; build it from d "
                              f"with torch operations")
        values.append(number)
    for (d0, v0), (d1, v1) in zip(zip(REPULSION_PROBES, values),
                                  zip(REPULSION_PROBES[1:], values[1:])):
        if v1 > v0:
            raise refuse(who, f"grows with distance (loss({d0}) = {v0:.4g} < loss({d1}) = "
                              f"{v1:.4g}); a repulsion must decrease as d grows, or unlearning "
                              f"pulls the model towards what it should forget")


def check_repulsion_value(value: Any, who: str) -> None:
    """A value of loss(d): a scalar tensor (metadata only: no host synchronisation)."""
    if not torch.is_tensor(value) or value.numel() != 1:
        shape = list(value.shape) if torch.is_tensor(value) else type(value).__name__
        raise refuse(who, f"returned {shape} from loss(d); it must return a scalar tensor")


def checked_repulsion(loss_fn: Callable, who: str) -> Callable:
    """``loss_fn`` with each value checked for shape during training (finiteness is checked
    with the losses, every log_every steps, by the training loop)."""
    def loss(d: torch.Tensor) -> torch.Tensor:
        with calling(who, "loss(d)"):
            value = loss_fn(d)
        check_repulsion_value(value, who)
        return value.reshape(())

    return loss


def check_probabilities(probs: Any, who: str, n: int, classes: int) -> None:
    """A classifier's ``probs(images)``: [N, K], finite, non-negative, rows summing to 1."""
    if not torch.is_tensor(probs) or tuple(probs.shape) != (n, classes):
        shape = list(probs.shape) if torch.is_tensor(probs) else type(probs).__name__
        raise refuse(who, f"returned probabilities shaped {shape} for {n} images; probs(images) "
                          f"must be [N, K] = [{n}, {classes}] (K = len(classes))")
    p = probs.detach().double()
    if not bool(torch.isfinite(p).all()) or float(p.min()) < 0:
        raise refuse(who, "returned negative, NaN or infinite probabilities; probs(images) must "
                          "be a softmax")
    sums = p.sum(dim=1)
    worst = float((sums - 1).abs().max())
    if worst > PROBS_TOLERANCE:
        raise refuse(who, f"returned probabilities whose rows do not sum to 1 (off by up to "
                          f"{worst:.3g}); probs(images) must be a softmax, not logits")


def check_classifier(classifier: Any, who: str, channels: int, resolution: int,
                     device: Any) -> None:
    """After loading: ``classes`` and ``probs`` on a first batch shaped like the GAN's images."""
    classes = list(getattr(classifier, "classes", None) or [])
    if len(classes) < 2:
        raise refuse(who, f"has classes {classes!r}; a classifier lists at least two class names")
    images = torch.rand(2, channels, resolution, resolution,
                        generator=torch.Generator().manual_seed(0)).mul_(2).sub_(1).to(device)
    with torch.no_grad(), calling(who, "probs(images)"):
        probs = classifier.probs(images)
    check_probabilities(probs, who, 2, len(classes))


def check_generator(G: Any, who: str, device: Any) -> None:
    """After loading: G's declared sizes and its output on a first batch (shape, finite, range)."""
    for attr in ("z_dim", "img_resolution", "img_channels"):
        value = getattr(G, attr, None)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise refuse(who, f"built a generator whose {attr} is {value!r}; it must be a "
                              f"positive int")
    z = torch.randn(1, G.z_dim, generator=torch.Generator().manual_seed(0)).to(device)
    with torch.no_grad(), calling(who, "G(z)"):
        images = G(z, truncation_psi=1.0, noise_mode="const")
    check_images(images, who, "images from G(z)", G.img_channels, G.img_resolution)
    if not images.is_floating_point():
        raise refuse(who, "returned uint8 images from G(z); a generator returns float images "
                          "in [-1, 1]")
