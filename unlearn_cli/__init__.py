"""gan-unlearn: make a pre-trained GAN stop producing something (Adapt-then-Unlearn).

This module stays import-light on purpose: `gan-unlearn --help` and plugin modules import it,
and neither may pay for torch.
"""
import pluggy

__version__ = "0.1.0"

#: Marker for plugin hook implementations: ``@hookimpl def register_repulsions(): ...``
hookimpl = pluggy.HookimplMarker("gan_unlearn")

_LAZY = {"unlearn": "unlearn_cli.python_api", "RunResult": "unlearn_cli.python_api",
         "run_config": "unlearn_cli.python_api", "UnlearnError": "unlearn_cli.errors"}


def __getattr__(name: str):
    """``from unlearn_cli import unlearn`` (docs/python-api.md), imported on first use only."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'unlearn_cli' has no attribute {name!r}")
