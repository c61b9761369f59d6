"""Export (issue 17): ours -> rosinality / NVIDIA names, read back bit-identically by our importers,
and the reference fixture reproduced from the exported file."""
import pytest
import torch

from sg2_helpers import (ROSI_PT, ours_to_nvidia_g, ours_to_nvidia_d, pickle_of_nvidia_state_dicts,
                         randomise, require_fixtures, small_config)
from unlearn_cli.api import UnlearnError
from unlearn_cli.engine.export import ExportPlan, write_export
from unlearn_cli_plugins.stylegan2.plugin import PLUGIN
from unlearn_cli_plugins.stylegan2.rosinality import load_torch_file


def _parts(ck):
    return {"G": ck.generator, "G_ema": ck.generator_ema, "D": ck.discriminator}


def _random_parts(cfg, seed=0, with_d=True):
    G, D = PLUGIN.build(cfg)
    E, _ = PLUGIN.build(cfg)
    randomise(G, seed), randomise(E, seed + 1), randomise(D, seed + 2)
    parts = {"G": G.state_dict(), "G_ema": E.state_dict()}
    if with_d:
        parts["D"] = D.state_dict()
    return parts


def _same(a: dict, b: dict, what: str) -> None:
    assert a.keys() == b.keys(), (what, sorted(set(a) ^ set(b)))
    for k in a:
        assert a[k].dtype == b[k].dtype and torch.equal(a[k], b[k]), (what, k)


def _write(tmp_path, exported, fmt, naming, name):
    path = tmp_path / name
    write_export(exported, ExportPlan(fmt, naming), path, "stylegan2", "")
    return path


# ---- rosinality ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def fixture_import():
    require_fixtures()
    return PLUGIN.import_checkpoint(ROSI_PT)


def test_rosinality_export_is_the_reference_file(fixture_import, tmp_path):
    """Every name, shape and value of the reference implementation's own checkpoint, plain tensors
    only: torch.load(weights_only=True) reads it without allowing anything."""
    ref = load_torch_file(ROSI_PT)
    path = _write(tmp_path, PLUGIN.export(_parts(fixture_import), fixture_import.config,
                                          "rosinality"), "rosinality", "rosinality", "r.pt")
    out = torch.load(path, weights_only=True)
    assert set(out) == {"g", "g_ema", "d", "latent_avg"}
    for part in ("g", "g_ema", "d"):
        _same(out[part], ref[part], part)   # noises.noise_i, blur kernels, lr_mul-scaled style.*
    assert torch.equal(out["latent_avg"], ref["latent_avg"])


def test_rosinality_import_export_import_is_bit_identical(fixture_import, tmp_path):
    exported = PLUGIN.export(_parts(fixture_import), fixture_import.config, "rosinality")
    again = PLUGIN.import_checkpoint(_write(tmp_path, exported, "rosinality", "rosinality",
                                            "r.pt"))
    assert again.config == fixture_import.config and again.warnings == []
    for part, state in _parts(fixture_import).items():
        _same(_parts(again)[part], state, part)


def test_reference_images_from_the_exported_file(fixture_import, tmp_path):
    from safetensors.torch import load_file
    from sg2_helpers import EXPECTED
    from test_sg2_parity import _models, check_all

    exported = PLUGIN.export(_parts(fixture_import), fixture_import.config, "rosinality")
    again = PLUGIN.import_checkpoint(_write(tmp_path, exported, "rosinality", "rosinality",
                                            "r.pt"))
    check_all(*_models(again), load_file(str(EXPECTED)))


@pytest.mark.parametrize("cfg", [small_config(), small_config(resolution=8, img_channels=1),
                                 small_config(resolution=32, channels={"4": 8, "8": 6, "16": 5,
                                                                       "32": 3},
                                              d_channels={"4": 7, "8": 5, "16": 4, "32": 2})])
def test_rosinality_round_trip_of_other_shapes(cfg, tmp_path):
    parts = _random_parts(cfg)
    parts["G"]["w_avg"] = parts["G_ema"]["w_avg"].clone()   # rosinality keeps one mean w
    path = _write(tmp_path, PLUGIN.export(parts, cfg, "rosinality"), "rosinality", "rosinality",
                  "r.pt")
    ck = PLUGIN.import_checkpoint(path)
    for part, state in parts.items():
        _same(_parts(ck)[part], state, part)


def test_generator_only_model_exports_without_d(tmp_path):
    cfg = small_config()
    parts = _random_parts(cfg, with_d=False)
    out = PLUGIN.export(parts, cfg, "rosinality")
    assert set(out.entries) == {"g", "g_ema", "latent_avg"}
    nvidia = PLUGIN.export(parts, cfg, "nvidia")
    assert set(nvidia.entries) == {"G", "G_ema"} and "D_kwargs" in nvidia.settings  # a fresh D


@pytest.mark.parametrize("change, message", [
    ({"conv_clamp": 256}, "rosinality's networks have no conv_clamp"),
    ({"mapping_lr_mul": 0.05}, "has no field for it"),
    ({"mbstd_group_size": 8}, "minibatch-stddev group of 8"),
])
def test_what_rosinality_cannot_express_is_refused(change, message):
    cfg = PLUGIN.validate_config(small_config(**change))
    with pytest.raises(UnlearnError, match=message) as err:
        PLUGIN.export(_random_parts(cfg), cfg, "rosinality")
    assert "\n" not in str(err.value) and "nvidia-state-dict" in str(err.value)


def test_a_generator_only_model_with_another_stddev_group_still_exports():
    cfg = PLUGIN.validate_config(small_config(mbstd_group_size=8))
    assert "d" not in PLUGIN.export(_random_parts(cfg, with_d=False), cfg, "rosinality").entries


def test_notes_name_their_constructor_or_what_it_cannot_build():
    stock = PLUGIN.validate_config(small_config(resolution=64, z_dim=16, w_dim=16,
                                                channel_base=32768, channel_max=512))
    (note,) = PLUGIN.export(_random_parts(stock), stock, "rosinality").notes
    assert "Generator(size=64, style_dim=16, n_mlp=2, channel_multiplier=2)" in note
    grey = PLUGIN.validate_config(small_config(img_channels=1))
    (note,) = PLUGIN.export(_random_parts(grey), grey, "rosinality").notes
    assert "cannot be built" in note and "1 image channel(s)" in note


# ---- NVIDIA ----------------------------------------------------------------------------------
@pytest.mark.parametrize("cfg", [small_config(), small_config(resolution=32, img_channels=1,
                                                              conv_clamp=256, mbstd_group_size=8,
                                                              mapping_lr_mul=0.05)])
def test_nvidia_names_and_shapes_match_the_import_mapping(cfg):
    """Export's names/shapes == the test-side inverse of the importer (sg2_helpers), which the
    importer itself reads (test_sg2_nvidia): one mapping, both ways."""
    cfg = PLUGIN.validate_config(cfg)
    parts = _random_parts(cfg)
    out = PLUGIN.export(parts, cfg, "nvidia").entries
    assert set(out) == {"G", "G_ema", "D"}
    for part in ("G", "G_ema"):
        want = ours_to_nvidia_g(parts[part], cfg["resolution"])
        _same(out[part], dict(want), part)
    _same(out["D"], dict(ours_to_nvidia_d(parts["D"], cfg["resolution"])), "D")


@pytest.mark.parametrize("cfg", [small_config(), small_config(resolution=32, img_channels=1,
                                                              conv_clamp=256, mbstd_group_size=8,
                                                              mapping_lr_mul=0.05)])
def test_nvidia_export_round_trip_through_the_pickle_importer(cfg, monkeypatch, tmp_path):
    """The state dicts and the printed constructor kwargs, pickled the way networks built from
    them would be, read back by our NVIDIA importer: same config, every tensor bit-identical."""
    cfg = PLUGIN.validate_config(cfg)
    parts = _random_parts(cfg)
    path = _write(tmp_path, PLUGIN.export(parts, cfg, "nvidia"), "nvidia-state-dict", "nvidia",
                  "n.pt")
    saved = torch.load(path, weights_only=True)   # plain tensors and plain values only
    states = {k: saved[k] for k in ("G", "G_ema", "D")}
    pkl = tmp_path / "network.pkl"
    pkl.write_bytes(pickle_of_nvidia_state_dicts(monkeypatch, states, saved["G_kwargs"],
                                                 saved["D_kwargs"]))
    monkeypatch.undo()
    ck = PLUGIN.import_checkpoint(pkl)
    assert ck.warnings == [] and ck.source_format == "nvidia-pkl"
    assert {k: ck.config[k] for k in ("conv_clamp", "mbstd_group_size", "mapping_lr_mul",
                                      "img_channels", "channels", "d_channels")} == \
        {k: cfg[k] for k in ("conv_clamp", "mbstd_group_size", "mapping_lr_mul", "img_channels",
                             "channels", "d_channels")}
    for part, state in parts.items():
        _same(_parts(ck)[part], state, part)


def test_nvidia_kwargs_follow_the_config():
    cfg = PLUGIN.validate_config(small_config(conv_clamp=256, mbstd_group_size=8))
    out = PLUGIN.export(_random_parts(cfg), cfg, "nvidia")
    g, d = out.settings["G_kwargs"], out.settings["D_kwargs"]
    assert g["mapping_kwargs"] == {"num_layers": 2, "lr_multiplier": 0.01}
    assert g["synthesis_kwargs"]["conv_clamp"] == 256 and g["c_dim"] == 0
    assert d["epilogue_kwargs"] == {"mbstd_group_size": 8, "mbstd_num_channels": 1}
    assert out.notes == []
    odd = PLUGIN.validate_config(small_config(channels={"4": 8, "8": 6, "16": 5}))
    assert "width rule" in PLUGIN.export(_random_parts(odd), odd, "nvidia").notes[0]


def test_safetensors_holds_the_same_tensors_flat(tmp_path):
    from safetensors import safe_open

    cfg = PLUGIN.validate_config(small_config())
    parts = _random_parts(cfg)
    for naming in ("nvidia", "rosinality"):
        exported = PLUGIN.export(parts, cfg, naming)
        path = _write(tmp_path, exported, "safetensors", naming, f"{naming}.safetensors")
        with safe_open(str(path), framework="pt") as handle:
            meta = handle.metadata()
            flat = {k: handle.get_tensor(k) for k in handle.keys()}
        assert meta["names"] == naming and meta.get("format") != "gan-unlearn"
        want = {}
        for key, value in exported.entries.items():
            want.update({f"{key}.{n}": t for n, t in value.items()} if isinstance(value, dict)
                        else {key: value})
        _same(flat, want, naming)
        if naming == "nvidia":
            assert "G_kwargs" in meta


def test_unknown_naming_is_refused():
    cfg = small_config()
    with pytest.raises(UnlearnError, match="no naming 'keras'"):
        PLUGIN.export(_random_parts(cfg), cfg, "keras")
