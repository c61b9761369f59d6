"""The options users may set on our components (`-o KEY=VALUE`, `source_options:` in YAML).

gan-unlearn checks what users give against these models before anything loads (a misspelt key
or a wrong type is one line naming the component), fills in the defaults, and shows them in
`gan-unlearn run --help` and `gan-unlearn list-plugins --options`. pydantic only: no torch.
"""
from pydantic import Field

from unlearn_cli.api import ComponentOptions


class SoftplusOptions(ComponentOptions):
    alpha: float = Field(1.0, gt=0, description="rate: log(1 + exp(-alpha * d))")


class AugmentedOptions(ComponentOptions):
    max_negatives: int = Field(32, ge=1, description="negatives made from the images in --neg DIR")
    candidates: int = Field(2000, ge=1, description="generated samples used as positives")
