"""Built-in unlearning methods: the paper's method and the two baselines it is compared with."""
from unlearn_cli import hookimpl
from unlearn_cli.api import ComponentSpec

_M = "unlearn_cli_plugins.methods.builtin"


@hookimpl
def register_methods():
    return [
        ComponentSpec("adapt-then-unlearn", "adapt to negatives (EWC), then unlearn with repulsion",
                      f"{_M}:adapt_then_unlearn"),
        ComponentSpec("finetune", "baseline: fine-tune on positives, no adaptation or repulsion",
                      f"{_M}:finetune"),
        ComponentSpec("extrapolation", "baseline: theta_G + g (theta_N - theta_G), g < 0",
                      f"{_M}:extrapolation"),
    ]
