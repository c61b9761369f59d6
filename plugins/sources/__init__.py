"""Built-in negative sources: where the samples to forget (and the positives) come from.

Each target is ``collect(context: SourceContext) -> SampleSets``; docs/sources.md describes the
options and how each source chooses positives. This module stays cheap to import: the
implementations (and torch) load only when a source is used.
"""
from unlearn_cli import hookimpl
from unlearn_cli.api import ComponentSpec

_PACKAGE = "unlearn_cli_plugins.sources"
_OPTIONS = f"{_PACKAGE}.options"  # their typed options (pydantic only), imported when needed


@hookimpl
def register_sources():
    return [
        ComponentSpec("folder", "negatives from a folder of images (--neg DIR); positives generated",
                      f"{_PACKAGE}.folder:collect", options_model=f"{_OPTIONS}:FolderOptions",
                      chosen_by="neg"),
        ComponentSpec("classifier", "generate, keep samples a classifier flags as --target; positives: clearly not",
                      f"{_PACKAGE}.classifier:collect",
                      options_model=f"{_OPTIONS}:ClassifierSourceOptions", needs_classifier=True),
        ComponentSpec("manual", "pick the undesired samples on a numbered grid (--pick 3,7,12 or asked)",
                      f"{_PACKAGE}.manual:collect", options_model=f"{_OPTIONS}:ManualOptions",
                      interactive=True, answers_from=("pick", "pick_file"),
                      keeps=("manual_grid.png",)),  # what the user picks from next time
    ]


@hookimpl
def register_commands(app):
    from .pick_command import pick  # typer only: no torch at start-up

    app.command("pick")(pick)
