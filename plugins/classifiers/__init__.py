"""Built-in classifier plugin: user TorchScript models.

Kinds (the Classifier interface they return is documented in ``unlearn_cli/classifier_base.py``):
  torchscript   a model file saved with torch.jit.save (path required)
The bundled digits classifiers (``digits``, ``digits-judge``) come with the digits plugin.

Each target is ``load(path_or_none, device) -> Classifier``. Importing this module is cheap.
"""
from unlearn_cli import hookimpl
from unlearn_cli.api import ComponentSpec



@hookimpl
def register_classifiers():
    return [
        ComponentSpec(
            "torchscript", "your own model saved with torch.jit.save (classes from <file>.classes.txt)",
            "unlearn_cli_plugins.classifiers.torchscript:load",
            options_model="unlearn_cli_plugins.classifiers.options:TorchScriptOptions",
        ),
    ]
