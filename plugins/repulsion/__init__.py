"""Built-in repulsion variants: functions of the normalised squared parameter distance d.

d is defined by the core (docs/method.md): the mean squared difference between the generator's
parameters and an adapted model's, averaged over the adapted models and divided by its value at
the start of unlearning, so d = 1 when unlearning starts and gamma means the same on every model.
"""
from unlearn_cli import hookimpl
from unlearn_cli.api import ComponentSpec

_MODULE = "unlearn_cli_plugins.repulsion.functions"
_OPTIONS = "unlearn_cli_plugins.repulsion.options"  # typed options (pydantic only)
_NONE = "unlearn_cli.api:NoOptions"  # takes none: any option given is refused


@hookimpl
def register_repulsions():
    return [
        ComponentSpec("l2", "NL2: -d (unbounded push away from the adapted model)", f"{_MODULE}:l2",
                      options_model=_NONE),
        ComponentSpec("exp", "EL2: exp(-alpha * d) (bounded, fades with distance)", f"{_MODULE}:exp",
                      options_model=f"{_OPTIONS}:ExpOptions"),
        ComponentSpec("inverse", "IL2: 1 / (d + eps) (finite at d = 0)", f"{_MODULE}:inverse",
                      options_model=f"{_OPTIONS}:InverseOptions"),
    ]
