"""Built-in classifier plugin `morpho`: digit shape attributes measured, not learnt.

Morpho-MNIST's measurements (Castro et al., 2019; ``measure.py``): stroke thickness, slant, width
and height of each sample, computed from the image alone. The classifier's classes are three bins
of one attribute (``-o attribute=thickness``: thin / medium / thick), so ``--target thick``
forgets thick strokes; which class (digit) a sample is comes from a second classifier
(``-o classes_from=mnist``), whose class shares must not move. docs/morpho.md has the thresholds
and how they were chosen. Importing this module is cheap: no torch.
"""
from unlearn_cli import hookimpl
from unlearn_cli.api import ComponentSpec


@hookimpl
def register_classifiers():
    return [
        ComponentSpec(
            "morpho", "measured digit shape (Morpho-MNIST): thin/medium/thick, left/upright/right, ...",
            "unlearn_cli_plugins.morpho.classifier:load",
            options_model="unlearn_cli_plugins.morpho.options:MorphoOptions",
            options={"classes": ["thin", "medium", "thick"], "attributes": ["thickness", "slant", "width", "height"]},
        ),
    ]
