"""`convert` and `sample` through the CLI, including the reference-parity check of issue 3."""
from pathlib import Path

import pytest
import torch
from PIL import Image
from safetensors.torch import load_file, save_file
from typer.testing import CliRunner

from engine_helpers import tiny_dcgan_file
from unlearn_cli.cli.main import create_app
from unlearn_cli.io.modelfile import read_header

FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures"


def _cli(*args):
    return CliRunner().invoke(create_app(), [str(a) for a in args])


@pytest.mark.skipif(not (FIXTURES / "rosinality-32px-narrow.pt").exists(),
                    reason="reference fixtures (../shared/fixtures) not present in this checkout")
def test_convert_then_sample_reproduces_reference_images(tmp_path):
    expected = load_file(str(FIXTURES / "rosinality-32px-narrow.expected.safetensors"))
    save_file({"z": expected["z"]}, str(tmp_path / "z.safetensors"))
    model = tmp_path / "m.safetensors"
    result = _cli("convert", FIXTURES / "rosinality-32px-narrow.pt", model)
    assert result.exit_code == 0, result.output
    header = read_header(model)
    assert header.gan == "stylegan2" and header.stage == "pretrained" and header.parent_sha256
    result = _cli("sample", model, "--latents", tmp_path / "z.safetensors", "--noise-mode", "const",
                  "--tensors", tmp_path / "out.safetensors")
    assert result.exit_code == 0, result.output
    images = load_file(str(tmp_path / "out.safetensors"))["images"]
    assert images.dtype == torch.float32
    assert (images - expected["img"]).abs().max() < 1e-4


def test_sample_writes_grid_and_images(tmp_path):
    model = tiny_dcgan_file(tmp_path / "m.safetensors")
    result = _cli("sample", model, "--n", 5, "--seed", 3, "--out", tmp_path / "s")
    assert result.exit_code == 0, result.output
    files = sorted(p.name for p in (tmp_path / "s").iterdir())
    assert files[0] == "grid.png" and len(files) == 6
    Image.open(tmp_path / "s" / "grid.png").verify()
    again = _cli("sample", model, "--n", 5, "--seed", 3, "--tensors", tmp_path / "a.safetensors")
    once = _cli("sample", model, "--n", 5, "--seed", 3, "--tensors", tmp_path / "b.safetensors")
    assert again.exit_code == once.exit_code == 0
    assert torch.equal(load_file(str(tmp_path / "a.safetensors"))["images"],
                       load_file(str(tmp_path / "b.safetensors"))["images"])


@pytest.mark.parametrize("args, message", [
    (["--n", "2"], "say where the samples go"),
    (["--n", "2", "--out", "o", "--noise-mode", "loud"], "--noise-mode must be"),
    (["--latents", "nope.safetensors", "--out", "o"], "cannot read latents"),
])
def test_sample_errors_are_one_line(tmp_path, args, message, monkeypatch):
    monkeypatch.chdir(tmp_path)
    model = tiny_dcgan_file(tmp_path / "m.safetensors")
    result = _cli("sample", model, *args)
    assert result.exit_code == 1 and message in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_sample_rejects_latents_of_the_wrong_size(tmp_path):
    model = tiny_dcgan_file(tmp_path / "m.safetensors")
    save_file({"z": torch.zeros(3, 5)}, str(tmp_path / "z.safetensors"))
    result = _cli("sample", model, "--latents", tmp_path / "z.safetensors", "--out", tmp_path / "o")
    assert result.exit_code == 1 and "'z' must be [N, 8]" in result.output
    assert not (tmp_path / "o").exists()


def test_convert_refuses_existing_output_and_wrong_suffix(tmp_path):
    model = tiny_dcgan_file(tmp_path / "m.safetensors")
    assert "must end in .safetensors" in _cli("convert", model, tmp_path / "x.pt").output
    (tmp_path / "y.safetensors").write_bytes(b"keep")
    result = _cli("convert", model, tmp_path / "y.safetensors")
    assert result.exit_code == 1 and "--overwrite" in result.output
    assert (tmp_path / "y.safetensors").read_bytes() == b"keep"
