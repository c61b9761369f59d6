"""gan-unlearn: make a pre-trained GAN stop producing something (Adapt-then-Unlearn).

This module stays import-light on purpose: `gan-unlearn --help` and plugin modules import it,
and neither may pay for torch.
"""
import pluggy

__version__ = "0.1.0"

#: Marker for plugin hook implementations: ``@hookimpl def register_repulsions(): ...``
hookimpl = pluggy.HookimplMarker("gan_unlearn")
