"""rosinality .pt import: generator-only files, missing mean w, refusals, exact round trip."""
import argparse
import os

import pytest
import torch

from sg2_helpers import ROSI_PT, randomise, require_fixtures, small_config
from unlearn_cli.api import UnlearnError
from unlearn_cli_plugins.stylegan2.plugin import PLUGIN, save_rosinality, to_rosinality_checkpoint
from unlearn_cli_plugins.stylegan2.rosinality import load_torch_file


def _random_models(cfg, seed=0):
    G, D = PLUGIN.build(cfg)
    E, _ = PLUGIN.build(cfg)
    randomise(G, seed), randomise(D, seed + 1), randomise(E, seed + 2)
    E.w_avg.copy_(G.w_avg)   # rosinality keeps one mean w (latent_avg) for both
    return G, E, D


@pytest.mark.parametrize("cfg", [small_config(), small_config(resolution=8, img_channels=1),
                                 small_config(resolution=32, channels={"4": 8, "8": 6,
                                                                       "16": 5, "32": 3},
                                              d_channels={"4": 7, "8": 5, "16": 4, "32": 2})])
def test_round_trip_ours_rosinality_ours_is_exact(cfg, tmp_path):
    G, E, D = _random_models(cfg)
    path = tmp_path / "rt.pt"
    save_rosinality(path, cfg, G.state_dict(), E.state_dict(), D.state_dict())
    ck = PLUGIN.import_checkpoint(path)
    assert ck.warnings == []
    assert ck.config == PLUGIN.validate_config(cfg) | {"channel_base": ck.config["channel_base"],
                                                      "channel_max": ck.config["channel_max"]}
    for mine, theirs in ((G, ck.generator), (E, ck.generator_ema), (D, ck.discriminator)):
        sd = mine.state_dict()
        assert sd.keys() == theirs.keys()
        for k in sd:
            assert torch.equal(sd[k], theirs[k]), k


def test_export_uses_rosinality_names_and_shapes():
    require_fixtures()
    ref = load_torch_file(ROSI_PT)
    ck = PLUGIN.import_checkpoint(ROSI_PT)
    out = to_rosinality_checkpoint(ck.config, ck.generator, ck.generator_ema, ck.discriminator)
    for part in ("g", "g_ema", "d"):
        assert out[part].keys() == ref[part].keys()
        for k, v in ref[part].items():
            assert torch.equal(out[part][k], v), (part, k)
    assert torch.equal(out["latent_avg"], ref["latent_avg"])
    assert isinstance(out["args"], argparse.Namespace) and out["args"].size == 32


def _write(tmp_path, ckpt, name="m.pt"):
    path = tmp_path / name
    torch.save(ckpt, path)
    return path


def test_generator_only_release_warns_and_has_no_d(tmp_path):
    require_fixtures()
    ref = load_torch_file(ROSI_PT)
    ck = PLUGIN.import_checkpoint(_write(tmp_path, {"g_ema": ref["g_ema"],
                                                    "latent_avg": ref["latent_avg"]}))
    assert ck.discriminator is None
    assert any("no discriminator" in w for w in ck.warnings)
    assert any("only the EMA generator" in w for w in ck.warnings)
    assert ck.generator.keys() == ck.generator_ema.keys()
    assert ck.config["d_channels"] == ck.config["channels"]


def test_missing_mean_w_is_estimated(tmp_path):
    require_fixtures()
    ref = load_torch_file(ROSI_PT)
    ck = PLUGIN.import_checkpoint(_write(tmp_path, {k: ref[k] for k in ("g", "d", "g_ema",
                                                                         "args")}))
    assert any("estimated" in w for w in ck.warnings)
    assert (ck.generator_ema["w_avg"] - ref["latent_avg"]).abs().max() < 0.15
    assert ck.generator["w_avg"].shape == (64,)


def test_shape_mismatch_is_refused(tmp_path):
    require_fixtures()
    ref = load_torch_file(ROSI_PT)
    ref["d"]["convs.2.conv1.0.weight"] = torch.zeros(64, 32, 3, 3)
    with pytest.raises(UnlearnError, match="shape") as err:
        PLUGIN.import_checkpoint(_write(tmp_path, ref))
    assert "\n" not in str(err.value)


def test_missing_tensor_and_wrong_arch_are_refused(tmp_path):
    require_fixtures()
    ref = load_torch_file(ROSI_PT)
    broken = dict(ref, g_ema={k: v for k, v in ref["g_ema"].items() if k != "convs.3.noise.weight"})
    with pytest.raises(UnlearnError, match="lacks 'convs.3.noise.weight'"):
        PLUGIN.import_checkpoint(_write(tmp_path, broken))
    ref["args"].arch = "swagan"
    with pytest.raises(UnlearnError, match="swagan"):
        PLUGIN.import_checkpoint(_write(tmp_path, ref, "s.pt"))
    with pytest.raises(UnlearnError, match="not a rosinality"):
        PLUGIN.import_checkpoint(_write(tmp_path, {"model": torch.zeros(2)}, "o.pt"))


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_torch_file_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    path = _write(tmp_path, {"g_ema": _Payload(marker)}, "evil.pt")
    with pytest.raises(UnlearnError, match="read safely"):
        PLUGIN.import_checkpoint(path)
    assert not marker.exists()


def test_can_import_sniffs_content(tmp_path):
    require_fixtures()
    assert PLUGIN.can_import(ROSI_PT)
    other = _write(tmp_path, {"model": torch.zeros(2)}, "other.pt")
    assert not PLUGIN.can_import(other)
    text = tmp_path / "x.pkl"
    text.write_text("hello")
    assert not PLUGIN.can_import(text) and not PLUGIN.can_import(tmp_path / "absent.pt")
    with pytest.raises(UnlearnError, match="no such file"):
        PLUGIN.import_checkpoint(tmp_path / "absent.pt")
