"""NVIDIA .pkl import: layouts, kwargs read from records, and every refusal."""
import os
import pickle

import pytest
import torch

from sg2_helpers import install_fake_nvidia_modules, nvidia_pickle, randomise, small_config
from unlearn_cli.api import UnlearnError
from unlearn_cli_plugins.stylegan2.plugin import PLUGIN


@pytest.fixture
def models():
    cfg = PLUGIN.validate_config(small_config(resolution=16))
    G, D = PLUGIN.build(cfg)
    return cfg, randomise(G).state_dict(), randomise(D, 1).state_dict()


def _load(monkeypatch, tmp_path, data):
    path = tmp_path / "net.pkl"
    path.write_bytes(data)
    monkeypatch.undo()
    return PLUGIN.import_checkpoint(path)


def test_clamp_group_size_and_exact_tensors(monkeypatch, tmp_path, models):
    cfg, g, d = models
    ck = _load(monkeypatch, tmp_path, nvidia_pickle(monkeypatch, cfg, g, d, conv_clamp=256,
                                                    mbstd_group=8))
    assert ck.config["conv_clamp"] == 256.0 and ck.config["mbstd_group_size"] == 8
    assert ck.config["mapping_lr_mul"] == 0.01
    for k in g:
        assert torch.equal(ck.generator[k], g[k]) and torch.equal(ck.generator_ema[k], g[k])
    for k in d:
        assert torch.equal(ck.discriminator[k], d[k])
    G, D = PLUGIN.build(ck.config)
    G.load_state_dict(ck.generator_ema), D.load_state_dict(ck.discriminator)


def test_generator_only_pickle_warns(monkeypatch, tmp_path, models):
    cfg, g, d = models
    ck = _load(monkeypatch, tmp_path, nvidia_pickle(monkeypatch, cfg, g, d, g_only=True))
    assert ck.discriminator is None and any("no discriminator" in w for w in ck.warnings)


def test_missing_w_avg_is_estimated(monkeypatch, tmp_path, models):
    cfg, g, d = models
    g = {k: v for k, v in g.items() if k != "w_avg"}
    ck = _load(monkeypatch, tmp_path, nvidia_pickle(monkeypatch, cfg, g, d))
    assert ck.generator["w_avg"].abs().sum() > 0 and any("estimated" in w for w in ck.warnings)


def test_stylegan3_refused(monkeypatch, tmp_path, models):
    cfg, g, d = models
    g = dict(g, **{"synthesis.L0_36_512.weight": torch.zeros(2, 2),
                   "synthesis.input.freqs": torch.zeros(2)})
    with pytest.raises(UnlearnError, match="StyleGAN3"):
        _load(monkeypatch, tmp_path, nvidia_pickle(monkeypatch, cfg, g, d))


def test_conditional_refused(monkeypatch, tmp_path, models):
    cfg, g, d = models
    g = dict(g, **{"mapping.embed.weight": torch.zeros(16, 10)})
    with pytest.raises(UnlearnError, match="conditional"):
        _load(monkeypatch, tmp_path, nvidia_pickle(monkeypatch, cfg, g, d,
                                                   g_extra={"c_dim": 10}))


def test_d_orig_architecture_refused(monkeypatch, tmp_path, models):
    cfg, g, d = models
    d = {k: v for k, v in d.items() if ".skip." not in k}
    with pytest.raises(UnlearnError, match="'orig'") as err:
        _load(monkeypatch, tmp_path, nvidia_pickle(monkeypatch, cfg, g, d,
                                                   d_extra={"architecture": "orig"}))
    assert "\n" not in str(err.value)


def test_shape_mismatch_refused(monkeypatch, tmp_path, models):
    cfg, g, d = models
    d = dict(d, **{"b8.conv0.weight": torch.zeros(16, 16, 1, 1)})
    with pytest.raises(UnlearnError, match="shape"):
        _load(monkeypatch, tmp_path, nvidia_pickle(monkeypatch, cfg, g, d))


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("protocol", [2, 4])
def test_reduce_payload_never_runs(tmp_path, protocol):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"G_ema": _Payload(marker), "D": None}, protocol=protocol))
    assert PLUGIN.can_import(path)   # a .pkl pickle: the plugin itself says what it refuses
    with pytest.raises(UnlearnError, match=r"refused: .*system.*allow-list") as err:
        PLUGIN.import_checkpoint(path)
    assert "\n" not in str(err.value)
    assert not marker.exists()


def test_payload_inside_a_genuine_looking_record_never_runs(monkeypatch, tmp_path, models):
    cfg, g, d = models
    marker = tmp_path / "pwned"
    reconstruct, _ = install_fake_nvidia_modules(monkeypatch)
    from sg2_helpers import FakePersistent
    evil = FakePersistent(reconstruct, "Generator",
                          {"_parameters": {}, "_modules": {"x": _Payload(marker)}})
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"G_ema": evil}, protocol=4))
    monkeypatch.undo()
    assert PLUGIN.can_import(path)      # looks like a network pickle ...
    with pytest.raises(UnlearnError, match="refused"):
        PLUGIN.import_checkpoint(path)  # ... but is refused before anything runs
    assert not marker.exists()


@pytest.mark.parametrize("glob", [("builtins", "eval"), ("torch", "load"),
                                  ("numpy", "load"), ("subprocess", "Popen")])
def test_other_globals_refused(tmp_path, glob):
    path = tmp_path / "g.pkl"
    path.write_bytes(b"\x80\x02c" + f"{glob[0]}\n{glob[1]}\n".encode() + b"q\x00.")
    with pytest.raises(UnlearnError, match="allow-list"):
        PLUGIN.import_checkpoint(path)


def test_non_network_pickle_refused(tmp_path):
    path = tmp_path / "plain.pkl"
    path.write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(UnlearnError, match="no generator"):
        PLUGIN.import_checkpoint(path)
