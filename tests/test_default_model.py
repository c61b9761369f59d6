"""The default model is the bundled MNIST StyleGAN2, run with the options it was tuned with.

(The rest of the suite runs on bundled:digits through GAN_UNLEARN_MODEL, set in conftest.py.)
"""
import json

import pytest
from typer.testing import CliRunner

from unlearn_cli.cli.main import create_app
from unlearn_cli.python_api import run_config


@pytest.fixture
def real_default(monkeypatch):
    monkeypatch.delenv("GAN_UNLEARN_MODEL", raising=False)


def test_the_default_is_mnist_with_its_recommended_options(real_default):
    config = run_config()
    assert config.ckpt == "bundled:mnist" and config.target == "8"
    assert config.unlearn_iters == 3000 and config.train.lr == 0.001
    assert config.source_options["balance_positives"] is True


def test_flags_and_files_override_the_recommended_options(real_default, tmp_path):
    assert run_config(unlearn_iters=50).unlearn_iters == 50
    yaml_file = tmp_path / "run.yaml"
    yaml_file.write_text("train:\n  batch: 8\nsource_options:\n  balance_positives: false\n")
    config = run_config(str(yaml_file))
    assert config.train.batch == 8 and config.train.lr == 0.001  # the file's train keys merge
    assert config.source_options["balance_positives"] is False


def test_other_models_and_sources_get_none_of_them(real_default):
    digits = run_config(ckpt="bundled:digits")
    assert digits.unlearn_iters == 1000 and digits.train.lr == 0.002
    assert digits.source_options["balance_positives"] is False
    folder = run_config(neg="somewhere")  # the folder source takes no balance_positives
    assert folder.source == "folder" and "balance_positives" not in folder.source_options
    assert folder.unlearn_iters == 3000  # the model's own options still apply


def test_a_short_run_with_no_model_named_uses_mnist(real_default, tmp_path):
    out = tmp_path / "run"
    result = CliRunner().invoke(create_app(), ["run", "--adapt-iters", "3", "--unlearn-iters", "3",
                                               "--candidates", "400", "--eval-samples", "200",
                                               "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["eval"]["target"] == "8" and metrics["eval"]["fid_reference"].startswith("'mnist'")
    assert "target_count_at_confidence" in metrics["eval"]
