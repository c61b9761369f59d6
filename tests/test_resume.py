"""Interruption and resume: a stopped stage keeps its checkpoint, --resume finishes it, and the
result is bit-identical (same file hash) to a run that was never interrupted."""
import pytest
from typer.testing import CliRunner

from engine_helpers import negative_folder, tiny_dcgan_file
from unlearn_cli.cli.main import create_app
from unlearn_cli.io.atomic import sha256_file

ARGS = ["--adapt-iters", "6", "--unlearn-iters", "6", "--candidates", "24", "--eval-samples", "20",
        "--batch", "4", "--quiet", "--device", "cpu", "--seed", "3"]


@pytest.fixture
def inputs(tmp_path):
    return tiny_dcgan_file(tmp_path / "pre.safetensors"), negative_folder(tmp_path / "neg")


def _run(*args):
    return CliRunner().invoke(create_app(), [str(a) for a in args])


@pytest.mark.parametrize("stop_at", ["adapt-1:3", "unlearn:2", "unlearn:5"])
def test_interrupted_then_resumed_equals_uninterrupted(inputs, tmp_path, monkeypatch, stop_at):
    ckpt, neg = inputs
    whole = _run("run", "--ckpt", ckpt, "--neg", neg, "--out", tmp_path / "whole", *ARGS)
    assert whole.exit_code == 0, whole.output
    stage = "adapt#3" if stop_at.startswith("adapt") else "unlearn"
    monkeypatch.setenv("GAN_UNLEARN_TEST_INTERRUPT", f"{stage}:{stop_at.split(':')[1]}")
    cut = _run("run", "--ckpt", ckpt, "--neg", neg, "--out", tmp_path / "cut", *ARGS)
    assert cut.exit_code == 130
    assert "interrupted during" in cut.output and "--resume" in cut.output
    assert list((tmp_path / "cut" / "resume").iterdir())
    assert not (tmp_path / "cut" / "unlearned.safetensors").exists()
    monkeypatch.delenv("GAN_UNLEARN_TEST_INTERRUPT")
    resumed = _run("run", "--resume", tmp_path / "cut", "--quiet")
    assert resumed.exit_code == 0, resumed.output
    for name in ("adapted.safetensors", "unlearned.safetensors"):
        assert sha256_file(tmp_path / "cut" / name) == sha256_file(tmp_path / "whole" / name), name
    assert not list((tmp_path / "cut" / "resume").iterdir())


def test_finished_stages_are_not_redone(inputs, tmp_path, monkeypatch):
    ckpt, neg = inputs
    monkeypatch.setenv("GAN_UNLEARN_TEST_INTERRUPT", "unlearn:2")
    assert _run("run", "--ckpt", ckpt, "--neg", neg, "--out", tmp_path / "r", *ARGS).exit_code == 130
    adapted = tmp_path / "r" / "adapted.safetensors"
    before = adapted.stat().st_mtime_ns
    monkeypatch.delenv("GAN_UNLEARN_TEST_INTERRUPT")
    assert _run("run", "--resume", tmp_path / "r", "--quiet").exit_code == 0
    assert adapted.stat().st_mtime_ns == before
    manifest = (tmp_path / "r" / "manifest.json").read_text()
    assert sha256_file(adapted) in manifest and "samples.safetensors" in manifest


def test_resume_refuses_other_options_and_non_run_folders(tmp_path):
    result = _run("run", "--resume", tmp_path, "--gamma", "2")
    assert result.exit_code == 1 and "drop --gamma" in result.output
    result = _run("run", "--resume", tmp_path)
    assert result.exit_code == 1 and "no config.yaml" in result.output


def test_failed_run_leaves_no_folder(inputs, tmp_path):
    ckpt, _ = inputs
    empty = tmp_path / "empty"
    empty.mkdir()
    result = _run("run", "--ckpt", ckpt, "--neg", empty, "--out", tmp_path / "x", *ARGS)
    assert result.exit_code == 1
    assert not (tmp_path / "x").exists()
