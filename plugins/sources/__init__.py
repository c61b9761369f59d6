"""Built-in negative sources: where the samples to forget (and the positives) come from.

Each target is ``collect(context: SourceContext) -> SampleSets``; docs/sources.md describes the
options and how each source chooses positives. This module stays cheap to import: the
implementations (and torch) load only when a source is used.
"""
from unlearn_cli import hookimpl
from unlearn_cli.api import ComponentSpec

_PACKAGE = "unlearn_cli_plugins.sources"


@hookimpl
def register_sources():
    return [
        ComponentSpec("folder", "negatives from a folder of images (--neg DIR); positives generated",
                      f"{_PACKAGE}.folder:collect"),
        ComponentSpec("classifier", "generate, keep samples a classifier flags as --target; positives: clearly not",
                      f"{_PACKAGE}.classifier:collect"),
        ComponentSpec("manual", "pick the undesired samples on a numbered grid (--pick 3,7,12 or asked)",
                      f"{_PACKAGE}.manual:collect"),
    ]


@hookimpl
def register_commands(app):
    from .pick_command import pick  # typer only: no torch at start-up

    app.command("pick")(pick)
