"""The Classifier base class, kept under its old name for this package's modules and tests.

It lives in the core (``unlearn_cli.api.ClassifierBase``) so that every classifier plugin can
subclass it without importing another plugin.
"""
from unlearn_cli.api import ClassifierBase as Classifier
from unlearn_cli.api import adapt_images, finish_classifier as finish

__all__ = ["Classifier", "adapt_images", "finish"]
