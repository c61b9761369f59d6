"""Built-in repulsion variants: functions of the normalised squared parameter distance d.

d is defined by the core (docs/method.md): the mean squared difference between the generator's
parameters and an adapted model's, averaged over the adapted models and divided by its value at
the start of unlearning, so d = 1 when unlearning starts and gamma means the same on every model.
"""
from unlearn_cli import hookimpl
from unlearn_cli.api import ComponentSpec

_MODULE = "unlearn_cli_plugins.repulsion.functions"


@hookimpl
def register_repulsions():
    return [
        ComponentSpec("l2", "NL2: -d (unbounded push away from the adapted model)", f"{_MODULE}:l2"),
        ComponentSpec("exp", "EL2: exp(-alpha * d), alpha=1 (bounded, fades with distance)", f"{_MODULE}:exp"),
        ComponentSpec("inverse", "IL2: 1 / (d + eps), eps=1e-3 (finite at d = 0)", f"{_MODULE}:inverse"),
    ]
