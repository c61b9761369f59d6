"""Fixtures for the source tests (the fakes live in source_fakes.py)."""
import pytest

from unlearn_cli.api import SourceContext

from source_fakes import FakeGenerator


@pytest.fixture
def make_context(tmp_path):
    def make(options=None, classifier=None, generator=None, ask=None, out_dir=tmp_path / "run"):
        generator = generator or FakeGenerator()
        opts = {"target": "8", "threshold": 0.9, "candidates": 600, "max_negatives": 32, "seed": 0,
                "neg": None, "pick": None, "pick_file": None}
        opts.update(options or {})
        return SourceContext(generate=generator, classifier=classifier, resolution=generator.resolution,
                             channels=generator.channels, options=opts, out_dir=out_dir, ask=ask)

    return make
