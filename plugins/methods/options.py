"""The built-in methods' options (pydantic, no torch)."""
from __future__ import annotations

from pydantic import Field

from unlearn_cli.api import ComponentOptions


class ExtrapolationOptions(ComponentOptions):
    extrapolation_strength: float = Field(
        0.5, ge=0, description="g = -strength in theta_G + g (theta_N - theta_G)")
