"""The three built-in repulsion variants: formulas and the direction of their gradients."""
import math

import pytest
import torch

from unlearn_cli.api import UnlearnError
from unlearn_cli.plugins import get_registry

FORMULAS = {
    "l2": lambda d: -d,
    "exp": lambda d: math.exp(-d),
    "inverse": lambda d: 1.0 / (d + 1e-3),
}


@pytest.mark.parametrize("name", sorted(FORMULAS))
def test_value_matches_formula_and_decreases_with_distance(name):
    loss = get_registry().load("repulsion", name)()
    values = []
    for d_value in (0.0, 0.5, 1.0, 2.0, 5.0):
        d = torch.tensor(d_value, requires_grad=True)
        out = loss(d)
        assert torch.isfinite(out)
        assert out.item() == pytest.approx(FORMULAS[name](d_value), rel=1e-6)
        out.backward()
        assert d.grad.item() < 0, f"{name} must decrease as d grows (gradient at d={d_value})"
        values.append(out.item())
    assert values == sorted(values, reverse=True)


def test_options_are_validated():
    exp = get_registry().load("repulsion", "exp")
    assert exp(alpha=2.0)(torch.tensor(1.0)).item() == pytest.approx(math.exp(-2.0))
    with pytest.raises(UnlearnError, match="alpha"):
        exp(alpha=0.0)
    with pytest.raises(UnlearnError, match="eps"):
        get_registry().load("repulsion", "inverse")(eps=-1.0)
