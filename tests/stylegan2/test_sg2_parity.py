"""Parity with the reference implementation's own outputs (../shared/fixtures), for the
rosinality .pt and for the same weights written as an NVIDIA-format network pickle."""
import pytest
import torch

from sg2_helpers import EXPECTED, ROSI_PT, nvidia_pickle, require_fixtures
from unlearn_cli_plugins.stylegan2.plugin import PLUGIN

TOL = 1e-4


@pytest.fixture(scope="module")
def expected():
    require_fixtures()
    from safetensors.torch import load_file
    return load_file(str(EXPECTED))


@pytest.fixture(scope="module")
def imported():
    require_fixtures()
    return PLUGIN.import_checkpoint(ROSI_PT)


def _models(ck):
    G, D = PLUGIN.build(ck.config)
    G.load_state_dict(ck.generator_ema)
    D.load_state_dict(ck.discriminator)
    return G.eval(), D.eval()


def check_all(G, D, e):
    with torch.no_grad():
        assert (G.mapping(e["z"]) - e["w"]).abs().max() < TOL
        assert (G(e["z"], noise_mode="const") - e["img"]).abs().max() < TOL
        assert (G.w_avg[None] - e["mean_w"]).abs().max() < TOL
        trunc = G(e["z"], truncation_psi=0.7, noise_mode="const")
        assert (trunc - e["img_trunc_0.7"]).abs().max() < TOL
        mix = G(e["z"], noise_mode="const", mix_z=e["z2"], mix_index=3)
        assert (mix - e["img_mix_inject3"]).abs().max() < TOL
        logits = D(e["img"])
        assert logits.shape == (8,)
        assert (logits - e["d_out"].flatten()).abs().max() < TOL


def test_rosinality_config_inferred_from_shapes(imported):
    cfg = imported.config
    assert cfg["resolution"] == 32 and cfg["z_dim"] == 64 and cfg["mapping_layers"] == 3
    assert cfg["channels"] == {"4": 64, "8": 64, "16": 64, "32": 64}   # narrowed, not 512
    assert cfg["d_channels"] == cfg["channels"]
    assert imported.source_format == "rosinality-pt" and imported.warnings == []
    assert imported.discriminator is not None and imported.generator_ema is not None


def test_rosinality_parity(imported, expected):
    check_all(*_models(imported), expected)


def test_rosinality_parity_on_grey_of_training_generator(imported, expected):
    """G (non-EMA) is imported too; in the fixture it equals g_ema."""
    G, _ = PLUGIN.build(imported.config)
    G.load_state_dict(imported.generator)
    with torch.no_grad():
        assert (G.eval()(expected["z"], noise_mode="const") - expected["img"]).abs().max() < TOL


@pytest.mark.parametrize("layout,protocol", [("ada", 2), ("ada", 4), ("sg3", 4)])
def test_nvidia_pickle_parity(imported, expected, monkeypatch, tmp_path, layout, protocol):
    data = nvidia_pickle(monkeypatch, imported.config, imported.generator_ema,
                         imported.discriminator, layout=layout, protocol=protocol)
    path = tmp_path / "network-snapshot.pkl"
    path.write_bytes(data)
    monkeypatch.undo()   # the fake torch_utils/dnnlib modules are gone before loading
    assert PLUGIN.can_import(path)
    ck = PLUGIN.import_checkpoint(path)
    assert ck.source_format == "nvidia-pkl" and ck.warnings == []
    assert ck.config["channels"] == imported.config["channels"]
    check_all(*_models(ck), expected)
    for k, v in imported.generator_ema.items():
        assert torch.equal(ck.generator_ema[k], v), k     # bit-exact through the pickle
