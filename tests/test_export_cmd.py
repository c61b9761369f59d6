"""`gan-unlearn export` through the CLI (issue 17, part 1); the name mappings themselves are
tested in tests/stylegan2/test_sg2_export.py."""
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file
from typer.testing import CliRunner

from unlearn_cli.cli.main import create_app
from unlearn_cli.io.modelfile import save_model

FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures"
ROSI_PT = FIXTURES / "rosinality-32px-narrow.pt"
needs_fixtures = pytest.mark.skipif(not ROSI_PT.exists(), reason="reference fixtures "
                                    "(../shared/fixtures) not present in this checkout")


def _cli(*args, code=0):
    result = CliRunner().invoke(create_app(), [str(a) for a in args])
    assert result.exit_code == code, result.output
    return result


@pytest.fixture
def sg2_file(tmp_path):
    from unlearn_cli_plugins.stylegan2.plugin import PLUGIN

    cfg = PLUGIN.validate_config({"resolution": 8, "z_dim": 8, "w_dim": 8, "mapping_layers": 2,
                                  "channel_base": 64, "channel_max": 8})
    torch.manual_seed(0)
    G, D = PLUGIN.build(cfg)
    path = tmp_path / "m.safetensors"
    save_model(path, {"G": G.state_dict(), "G_ema": G.state_dict(), "D": D.state_dict()},
               gan="stylegan2", config=cfg, stage="unlearned")
    return path


@needs_fixtures
def test_rosinality_export_of_a_converted_model_is_their_file_and_samples_the_same(tmp_path):
    """convert -> export gives back the reference implementation's own tensors, and `sample` on
    the exported file (our importer) reproduces its reference images."""
    from unlearn_cli_plugins.stylegan2.rosinality import load_torch_file

    model, out = tmp_path / "m.safetensors", tmp_path / "exported.pt"
    _cli("convert", ROSI_PT, model)
    result = _cli("export", model, out, "--format", "rosinality")
    assert "rosinality names; g_ema, g, d" in result.output
    ref, got = load_torch_file(ROSI_PT), torch.load(out, weights_only=True)
    for part in ("g", "g_ema", "d"):
        assert got[part].keys() == ref[part].keys()
        assert all(torch.equal(got[part][k], v) for k, v in ref[part].items()), part
    expected = load_file(str(FIXTURES / "rosinality-32px-narrow.expected.safetensors"))
    save_file({"z": expected["z"]}, str(tmp_path / "z.safetensors"))
    _cli("sample", out, "--latents", tmp_path / "z.safetensors", "--noise-mode", "const",
         "--tensors", tmp_path / "img.safetensors")
    images = load_file(str(tmp_path / "img.safetensors"))["images"]
    assert (images - expected["img"]).abs().max() < 1e-4


@needs_fixtures
def test_auto_returns_a_foreign_file_to_its_own_format(tmp_path):
    _cli("export", ROSI_PT, tmp_path / "again.pt", "--format", "auto")
    assert set(torch.load(tmp_path / "again.pt", weights_only=True)) == {"g", "g_ema", "d",
                                                                         "latent_avg"}


def test_nvidia_state_dict_prints_and_stores_the_constructor_kwargs(sg2_file, tmp_path):
    out = tmp_path / "nv.pt"
    result = _cli("export", sg2_file, out, "--format", "nvidia-state-dict")
    assert 'G_kwargs: {"c_dim": 0' in result.output and "D_kwargs: " in result.output
    saved = torch.load(out, weights_only=True)   # no classes: plain tensors and values
    assert set(saved) == {"G", "G_ema", "D", "G_kwargs", "D_kwargs"}
    assert "synthesis.b4.const" in saved["G"] and "mapping.w_avg" in saved["G_ema"]
    assert saved["G"]["synthesis.b8.conv0.resample_filter"].sum() == pytest.approx(1.0)
    assert saved["G_kwargs"]["img_resolution"] == 8


def test_safetensors_with_either_naming(sg2_file, tmp_path):
    from safetensors import safe_open

    _cli("export", sg2_file, tmp_path / "nv.safetensors", "--format", "safetensors")
    _cli("export", sg2_file, tmp_path / "ro.safetensors", "--format", "safetensors", "--names",
         "rosinality")
    with safe_open(str(tmp_path / "nv.safetensors"), framework="pt") as handle:
        assert handle.metadata()["names"] == "nvidia" and "G.mapping.w_avg" in handle.keys()
    with safe_open(str(tmp_path / "ro.safetensors"), framework="pt") as handle:
        assert "g_ema.noises.noise_0" in handle.keys() and "latent_avg" in handle.keys()


def test_existing_output_needs_overwrite_and_an_input_is_never_replaced(sg2_file, tmp_path):
    out = tmp_path / "x.pt"
    out.write_bytes(b"mine")
    _cli("export", sg2_file, out, "--format", "rosinality", code=1)
    assert out.read_bytes() == b"mine"
    _cli("export", sg2_file, out, "--format", "rosinality", "--overwrite")
    assert "g_ema" in torch.load(out, weights_only=True)
    before = sg2_file.read_bytes()
    _cli("export", sg2_file, sg2_file, "--format", "safetensors", "--overwrite", code=1)
    assert sg2_file.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_export_as_a_real_process(sg2_file, tmp_path):
    out = tmp_path / "r.pt"
    proc = subprocess.run([sys.executable, "-m", "unlearn_cli", "export", str(sg2_file), str(out),
                           "--format", "rosinality"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "rosinality names" in proc.stdout and out.is_file()
    bad = subprocess.run([sys.executable, "-m", "unlearn_cli", "export", str(sg2_file), str(out),
                          "--format", "rosinality"], capture_output=True, text=True, timeout=300)
    assert bad.returncode == 1 and bad.stderr.strip().splitlines() == [
        f"error: {out} exists; pass --overwrite to replace it"]


FAST = ["--adapt-iters", "4", "--unlearn-iters", "4", "--candidates", "32", "--eval-samples", "40",
        "--batch", "4", "--quiet", "--device", "cpu"]


def test_run_exports_a_foreign_input_to_its_own_format(tmp_path):
    """`run --export auto` on a rosinality .pt: the run folder's unlearned.pt is the unlearned
    model (the same file `export` makes from unlearned.safetensors), recorded in metrics.json."""
    import json

    from engine_helpers import negative_folder
    from unlearn_cli_plugins.stylegan2.plugin import PLUGIN, save_rosinality
    from unlearn_cli_plugins.stylegan2.rosinality import load_torch_file

    cfg = PLUGIN.validate_config({"resolution": 8, "img_channels": 1, "z_dim": 8, "w_dim": 8,
                                  "mapping_layers": 2, "channel_base": 64, "channel_max": 8})
    torch.manual_seed(0)
    G, D = PLUGIN.build(cfg)
    ckpt, out = tmp_path / "rosi.pt", tmp_path / "run"
    save_rosinality(ckpt, cfg, G.state_dict(), G.state_dict(), D.state_dict())
    result = _cli("run", "--ckpt", ckpt, "--neg", negative_folder(tmp_path / "neg"), "--out", out,
                  "--export", "auto", *FAST)
    assert "exported unlearned.pt: rosinality" in result.output
    from_run = torch.load(out / "unlearned.pt", weights_only=True)
    assert set(from_run) == {"g", "g_ema", "d", "latent_avg"}
    _cli("export", out / "unlearned.safetensors", tmp_path / "by-hand.pt", "--format", "rosinality")
    by_hand = torch.load(tmp_path / "by-hand.pt", weights_only=True)
    for part in ("g", "g_ema", "d"):
        assert all(torch.equal(from_run[part][k], v) for k, v in by_hand[part].items()), part
    assert not all(torch.equal(from_run["g_ema"][k], v)   # it is the unlearned model, not the input
                   for k, v in load_torch_file(ckpt)["g_ema"].items())
    entry = json.loads((out / "metrics.json").read_text())["outputs"]["export"]
    assert entry["file"] == "unlearned.pt" and entry["format"] == "rosinality"
