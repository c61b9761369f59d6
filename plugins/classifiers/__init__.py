"""Built-in classifier plugin: the bundled digits classifiers and user TorchScript models.

Kinds (the Classifier interface they return is documented in ``base.py``):
  digits        the bundled CNN trained on scikit-learn's digits (16 px, greyscale)
  digits-judge  an independent bundled MLP, used as an outside judge by the benchmarks
  torchscript   a model file saved with torch.jit.save (path required)

Each target is ``load(path_or_none, device) -> Classifier``. Importing this module is cheap.
"""
from unlearn_cli import hookimpl
from unlearn_cli.api import ComponentSpec

_DIGITS = "unlearn_cli_plugins.classifiers.digits"
_DIGIT_CLASSES = [str(i) for i in range(10)]


@hookimpl
def register_classifiers():
    return [
        ComponentSpec(
            "digits", "bundled CNN for the handwritten digits 0-9 (16 px, greyscale)", f"{_DIGITS}:load",
            options={"needs_path": False, "classes": _DIGIT_CLASSES, "resolution": 16, "channels": 1},
        ),
        ComponentSpec(
            "digits-judge", "bundled independent MLP for digits 0-9, a judge for benchmarks", f"{_DIGITS}:load_judge",
            options={"needs_path": False, "classes": _DIGIT_CLASSES, "resolution": 16, "channels": 1},
        ),
        ComponentSpec(
            "torchscript", "your own model saved with torch.jit.save (classes from <file>.classes.txt)",
            "unlearn_cli_plugins.classifiers.torchscript:load", options={"needs_path": True},
        ),
    ]
