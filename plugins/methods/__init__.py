"""Built-in unlearning methods: the paper's method and the two baselines it is compared with."""
from unlearn_cli import hookimpl
from unlearn_cli.api import ComponentSpec

_M = "unlearn_cli_plugins.methods.builtin"
_NONE = "unlearn_cli.api:NoOptions"  # takes none: any option given is refused


@hookimpl
def register_methods():
    return [
        ComponentSpec("adapt-then-unlearn", "adapt to negatives (EWC), then unlearn with repulsion",
                      f"{_M}:adapt_then_unlearn", options_model=_NONE),
        ComponentSpec("finetune", "baseline: fine-tune on positives, no adaptation or repulsion",
                      f"{_M}:finetune", options_model=_NONE),
        ComponentSpec("extrapolation", "baseline: theta_G + g (theta_N - theta_G), g < 0",
                      f"{_M}:extrapolation",
                      options_model="unlearn_cli_plugins.methods.options:ExtrapolationOptions"),
    ]
