"""The built-in repulsions' options (pydantic, no torch): the one place their defaults live."""
from __future__ import annotations

from pydantic import Field

from unlearn_cli.api import ComponentOptions


class ExpOptions(ComponentOptions):
    alpha: float = Field(1.0, gt=0, description="EL2's rate: exp(-alpha * d)")


class InverseOptions(ComponentOptions):
    eps: float = Field(1e-3, gt=0, description="IL2's offset: 1 / (d + eps), finite at d = 0")
