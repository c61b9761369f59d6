"""The three repulsion losses of Adapt-then-Unlearn. Each is a factory: options -> loss(d).

The loss is *minimised*, so every variant decreases as d grows: minimising it pushes the
parameters away from the adapted (negative) model. All are finite at d = 0, where unlearning
starts when theta = theta_G is compared with an adapted model close to it.
"""
from __future__ import annotations

import math

from unlearn_cli.api import UnlearnError

from .options import ExpOptions, InverseOptions

_ALPHA = ExpOptions.model_fields["alpha"].default  # defaults live in options.py only
_EPS = InverseOptions.model_fields["eps"].default


def l2(**_options):
    """NL2: L(d) = -d. Unbounded; the push never weakens, so small gammas are needed."""

    def loss(d):
        return -d

    return loss


def exp(alpha: float = _ALPHA, **_options):
    """EL2: L(d) = exp(-alpha * d). Strongest near the adapted model, fading as d grows."""
    if not alpha > 0 or math.isinf(alpha):
        raise UnlearnError(f"exp repulsion needs a finite alpha > 0, got {alpha}")

    def loss(d):
        return (-alpha * d).exp()

    return loss


def inverse(eps: float = _EPS, **_options):
    """IL2: L(d) = 1 / (d + eps). eps keeps it finite where d = 0 (the reference divided by zero)."""
    if not eps > 0 or math.isinf(eps):
        raise UnlearnError(f"inverse repulsion needs a finite eps > 0, got {eps}")

    def loss(d):
        return 1.0 / (d + eps)

    return loss
