"""The morpho classifier's options (pydantic, no torch). docs/morpho.md explains the defaults."""
from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field, model_validator

from unlearn_cli.api import ComponentOptions

#: attribute -> (class below `low`, between, above `high`), default low, high and softness, unit.
#: The thresholds are the 15th and 85th percentiles of the 5000 MNIST digits of the mnist plugin,
#: rounded (docs/morpho.md), so each outer class holds about 15% of real digits.
ATTRIBUTES = {
    "thickness": (("thin", "medium", "thick"), 2.0, 3.2, 0.1, "px"),  # 17.6% / 14.0% of MNIST
    "slant": (("left", "upright", "right"), -0.15, 0.4, 0.03, "rad"),
    "width": (("narrow", "medium", "wide"), 9.5, 17.0, 0.3, "px"),
    "height": (("short", "medium", "tall"), 18.6, 19.6, 0.1, "px"),
}


class MorphoOptions(ComponentOptions):
    attribute: Literal["thickness", "slant", "width", "height"] = Field(
        "thickness", description="the measured attribute whose three bins are the classes")
    low: Optional[float] = Field(None, description="below it: the first class (thin, left, ...); default per attribute")
    high: Optional[float] = Field(None, description="above it: the third class (thick, right, ...); default per attribute")
    softness: Optional[float] = Field(None, gt=0, description="width of the soft edge of each bin, so "
                                      "samples near a threshold get a low confidence; default per attribute")
    classes_from: str = Field("mnist", description="the classifier that says which digit a sample is "
                              "(class shares, their shift, and the features of the FID)")

    @model_validator(mode="after")
    def _ordered(self):
        _, low, high, _, _ = ATTRIBUTES[self.attribute]
        low = self.low if self.low is not None else low
        high = self.high if self.high is not None else high
        if not low < high:
            raise ValueError(f"low ({low}) must be below high ({high})")
        return self
