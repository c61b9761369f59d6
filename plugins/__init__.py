"""Built-in plugins of gan-unlearn, installed as the package `unlearn_cli_plugins`.

Each sub-package is self-contained, imports only unlearn_cli's public API, and is registered
through the `gan_unlearn` entry-point group in pyproject.toml, exactly as a third party would.
"""
