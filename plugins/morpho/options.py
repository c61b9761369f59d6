"""The morpho classifier's options (pydantic, no torch). docs/morpho.md explains the defaults."""
from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field, model_validator

from unlearn_cli.api import ComponentOptions

#: attribute -> (class below `low`, between, above `high`), softness of the edges, unit
ATTRIBUTES = {
    "thickness": (("thin", "medium", "thick"), 0.1, "px"),
    "slant": (("left", "upright", "right"), 0.03, "rad"),
    "width": (("narrow", "medium", "wide"), 0.3, "px"),
    "height": (("short", "medium", "tall"), 0.1, "px"),
}
#: image size -> attribute -> default (low, high): the 15th and 85th percentiles of the 5000
#: MNIST digits of the mnist plugin at that size, rounded (docs/morpho.md), so each outer class
#: holds about 15% of real digits. Measurements depend on the size (a 16 px digit, measured
#: after resizing to 32 px, has softer and so thicker strokes); other sizes use the nearest.
THRESHOLDS = {
    16: {"thickness": (2.7, 3.8), "slant": (-0.14, 0.39), "width": (11.5, 18.5), "height": (20.0, 21.4)},
    32: {"thickness": (2.0, 3.2), "slant": (-0.14, 0.41), "width": (9.5, 17.0), "height": (18.6, 19.6)},
}


def default_thresholds(attribute: str, resolution: int) -> tuple[float, float]:
    nearest = min(THRESHOLDS, key=lambda r: abs(r - resolution))
    return THRESHOLDS[nearest][attribute]


class MorphoOptions(ComponentOptions):
    attribute: Literal["thickness", "slant", "width", "height"] = Field(
        "thickness", description="the measured attribute whose three bins are the classes")
    low: Optional[float] = Field(None, description="below it: the first class (thin, left, ...); default per attribute and image size")
    high: Optional[float] = Field(None, description="above it: the third class (thick, right, ...); default per attribute and image size")
    softness: Optional[float] = Field(None, gt=0, description="width of the soft edge of each bin, so "
                                      "samples near a threshold get a low confidence; default per attribute")
    classes_from: str = Field("mnist", description="the classifier that says which digit a sample is "
                              "(class shares, their shift, and the features of the FID)")

    @model_validator(mode="after")
    def _ordered(self):
        if self.low is not None and self.high is not None and not self.low < self.high:
            raise ValueError(f"low ({self.low}) must be below high ({self.high})")
        return self
