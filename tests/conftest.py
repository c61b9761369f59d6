import pytest

from unlearn_cli.plugins import reset_registry


@pytest.fixture(autouse=True)
def _fresh_registry(monkeypatch):
    """Each test sees the installed plugins afresh and no stray environment switches."""
    for var in ("GAN_UNLEARN_LOAD_PLUGINS", "GAN_UNLEARN_TRACE_PLUGINS", "GAN_UNLEARN_DEBUG"):
        monkeypatch.delenv(var, raising=False)
    reset_registry()
    yield
    reset_registry()
