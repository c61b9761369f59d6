"""StyleGAN2 gan plugin: pure-PyTorch G and D; imports rosinality .pt and NVIDIA .pkl safely.

This module only registers the plugin; the implementation (``plugin.PLUGIN``) is imported when
used, so listing plugins never pays for torch.
"""
from unlearn_cli import hookimpl
from unlearn_cli.api import ComponentSpec


@hookimpl
def register_gans():
    return [ComponentSpec(
        name="stylegan2",
        summary="StyleGAN2 (pure PyTorch); reads rosinality .pt and NVIDIA .pkl",
        target="unlearn_cli_plugins.stylegan2.plugin:PLUGIN",
    )]
