"""An example gan-unlearn plugin: one repulsion, one negative source, one command.

This module is imported whenever gan-unlearn starts, so it stays cheap: no torch here. Each spec
names its implementation and its options model as "module:attr", imported only when needed.
"""
from unlearn_cli import hookimpl
from unlearn_cli.api import ComponentSpec


@hookimpl
def register_repulsions():
    return [ComponentSpec("softplus", "log(1 + exp(-alpha * d)): like exp, with a heavier tail",
                          "gan_unlearn_example.repulsion:softplus",
                          options_model="gan_unlearn_example.options:SoftplusOptions")]


@hookimpl
def register_sources():
    return [ComponentSpec("augmented", "a few images in --neg DIR, shifted and rescaled up to max_negatives",
                          "gan_unlearn_example.source:collect",
                          options_model="gan_unlearn_example.options:AugmentedOptions")]


@hookimpl
def register_commands(app):
    from gan_unlearn_example.commands import repulsion_table

    app.command("repulsion-table")(repulsion_table)
