"""Built-in dataset plugin `digits`: scikit-learn's bundled handwritten digits (no download).

1797 greyscale images of 8x8 pixels (values 0..16), ten classes "0".."9", upsampled bilinearly
to the resolution asked for. See docs/digits.md. The bundled digits classifiers (classifier
kinds `digits` and `digits-judge`, ``classifier.py``) are registered here too, with their
weights in ``weights/`` beside this file. Importing this module is cheap: no torch, no scikit-learn.
"""
from unlearn_cli import hookimpl
from unlearn_cli.api import ComponentSpec

_DATA = "unlearn_cli_plugins.digits.data"
_CLASSIFIER = "unlearn_cli_plugins.digits.classifier"
_CLASSES = [str(i) for i in range(10)]
_NONE = "unlearn_cli.api:NoOptions"  # the classifiers take no options (their weights are bundled)


@hookimpl
def register_classifiers():
    return [
        ComponentSpec(
            "digits", "bundled CNN for the handwritten digits 0-9 (16 px, greyscale)", f"{_CLASSIFIER}:load", options_model=_NONE,
            options={"classes": _CLASSES, "resolution": 16, "channels": 1},
        ),
        ComponentSpec(
            "digits-judge", "bundled independent MLP for digits 0-9, a judge for benchmarks",
            f"{_CLASSIFIER}:load_judge", options_model=_NONE,
            options={"classes": _CLASSES, "resolution": 16, "channels": 1},
        ),
    ]


@hookimpl
def register_datasets():
    return [
        ComponentSpec(
            "digits",
            "scikit-learn's 1797 handwritten digits, 8x8 upsampled bilinearly (bundled, no download)",
            f"{_DATA}:load",
            options={
                "classes": [str(i) for i in range(10)],
                "count": 1797,
                "native_resolution": 8,
                "split": f"{_DATA}:split",
                # the bundled StyleGAN2 trained on this data (docs/bundled-model.md);
                # `--ckpt bundled:digits` (the default) resolves to it
                "model": "unlearn_cli_plugins.digits:weights/stylegan2_digits.safetensors",
                # the classifier that model is judged by when --classifier is not given
                "classifier": "digits",
            },
        )
    ]
