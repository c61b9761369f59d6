import os

import pytest

from unlearn_cli.plugins import reset_registry

# The suite runs on the small, fast digits model (16 px); tests of the real default (the MNIST
# model, 32 px) unset this themselves. Set before any test, so subprocesses inherit it too.
os.environ["GAN_UNLEARN_MODEL"] = "bundled:digits"


@pytest.fixture(autouse=True)
def _fresh_registry(monkeypatch):
    """Each test sees the installed plugins afresh and no stray environment switches."""
    for var in ("GAN_UNLEARN_LOAD_PLUGINS", "GAN_UNLEARN_TRACE_PLUGINS", "GAN_UNLEARN_DEBUG"):
        monkeypatch.delenv(var, raising=False)
    reset_registry()
    yield
    reset_registry()
