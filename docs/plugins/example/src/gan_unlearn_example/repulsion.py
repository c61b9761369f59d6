"""The softplus repulsion: L(d) = log(1 + exp(-alpha * d)).

Near d = 0 it falls like log 2 - alpha * d / 2 (a steady push, like NL2); far away it fades like
exp(-alpha * d) (like EL2). Finite everywhere, strictly decreasing.
"""
import math

from unlearn_cli.api import UnlearnError


def softplus(alpha: float, **_options):
    # a run passes alpha checked by SoftplusOptions; a direct call (a test) is checked here
    if not (alpha > 0 and math.isfinite(alpha)):
        raise UnlearnError(f"softplus repulsion needs a finite alpha > 0, got {alpha}")
    import torch.nn.functional as F

    def loss(d):
        return F.softplus(-alpha * d)

    return loss
