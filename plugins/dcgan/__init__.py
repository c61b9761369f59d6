"""A tiny DCGAN: fast enough for tests and small experiments, and a template for gan plugins."""
from unlearn_cli import hookimpl
from unlearn_cli.api import ComponentSpec


@hookimpl
def register_gans():
    return [ComponentSpec("dcgan", "tiny DCGAN (tests, small experiments)",
                          "unlearn_cli_plugins.dcgan.model:PLUGIN")]
