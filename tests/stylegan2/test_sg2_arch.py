"""Architecture: configs, shapes for every resolution, generator/discriminator contracts."""
import subprocess
import sys

import pytest
import torch

from sg2_helpers import randomise, small_config
from unlearn_cli.api import UnlearnError
from unlearn_cli_plugins.stylegan2.plugin import PLUGIN


def test_default_config_is_paper_mnist_and_json():
    import json
    cfg = PLUGIN.validate_config(PLUGIN.default_config())
    assert json.loads(json.dumps(cfg)) == cfg
    assert cfg["resolution"] == 32 and cfg["z_dim"] == 128 and cfg["mapping_layers"] == 8
    assert set(cfg["channels"].values()) == {512}


@pytest.mark.parametrize("bad,word", [({"resolution": 48}, "power of two"),
                                      ({"resolution": 4}, "resolution"),
                                      ({"resolution": 2048}, "resolution"),
                                      ({"zdim": 3}, "zdim"),
                                      ({"conv_clamp": -1}, "conv_clamp"),
                                      ({"channels": {"4": 8}}, "channels"),
                                      ({"img_channels": 0}, "img_channels")])
def test_bad_configs_name_the_key(bad, word):
    with pytest.raises(UnlearnError, match=word):
        PLUGIN.validate_config(bad)


@pytest.mark.parametrize("res", [8, 16, 32, 64, 128, 256, 512, 1024])
def test_shapes_every_resolution(res):
    cfg = PLUGIN.validate_config({"resolution": res, "z_dim": 512, "w_dim": 512})
    with torch.device("meta"):
        G, D = PLUGIN.build(cfg)
    assert G.num_ws == 2 * (res.bit_length() - 1) - 2
    assert G.synthesis.const.shape == (512, 4, 4)
    last = getattr(G.synthesis, f"b{res}")
    assert last.conv1.weight.shape[0] == min(32768 // res, 512)
    assert last.conv1.noise_const.shape == (res, res)
    keys = set(G.state_dict())
    assert not any("fir" in k for k in keys) and "w_avg" in keys
    assert f"b{res}.fromrgb.weight" in D.state_dict()


@pytest.mark.parametrize("res,ch", [(8, 1), (16, 3), (32, 1), (64, 3)])
def test_forward_shapes_and_noise_modes(res, ch):
    G, D = PLUGIN.build(small_config(resolution=res, img_channels=ch))
    randomise(G), randomise(D)
    assert (G.z_dim, G.img_resolution, G.img_channels) == (16, res, ch)
    z = torch.randn(3, 16)
    with torch.no_grad():
        img = G(z, noise_mode="const")
        assert img.shape == (3, ch, res, res)
        assert torch.equal(img, G(z, noise_mode="const"))
        assert torch.equal(G(z, noise_mode="none"), G(z, noise_mode="none"))
        assert not torch.equal(G(z), G(z))                  # random noise
        assert D(img).shape == (3,)
        with pytest.raises(ValueError):
            G(z, noise_mode="bogus")


def test_large_resolution_forward_tiny_widths():
    G, D = PLUGIN.build(small_config(resolution=1024, channel_base=1024, channel_max=4))
    with torch.no_grad():
        img = G(torch.randn(1, 16))
        assert img.shape == (1, 3, 1024, 1024)
        assert D(img).shape == (1,)


def test_truncation_and_mixing_semantics():
    G, _ = PLUGIN.build(small_config())
    randomise(G).eval()
    z, z2 = torch.randn(4, 16), torch.randn(4, 16)
    with torch.no_grad():
        G.w_avg.copy_(torch.randn(16))
        at_mean = G(z, truncation_psi=0.0, noise_mode="const")
        assert torch.allclose(at_mean, at_mean[:1].expand_as(at_mean), atol=1e-5)
        assert torch.allclose(G(z, noise_mode="const", mix_z=z2, mix_index=G.num_ws),
                              G(z, noise_mode="const"))
        assert torch.allclose(G(z, noise_mode="const", mix_z=z2, mix_index=0),
                              G(z2, noise_mode="const"))
        ws = G.ws(z, mix_z=z2, mix_index=2)
        assert torch.equal(ws[:, 1], G.mapping(z)) and torch.equal(ws[:, 2], G.mapping(z2))
        old = G.estimate_w_avg(n=500).clone()
        assert torch.allclose(old, G.mapping(torch.randn(20000, 16)).mean(0), atol=0.1)


def test_conv_clamp_bounds_images():
    G, D = PLUGIN.build(small_config(conv_clamp=0.5))
    randomise(G)
    with torch.no_grad():
        G.synthesis.b16.torgb.weight.mul_(100)
        img = G(torch.randn(2, 16))
    # the skip path sums up-sampled clamped RGB layers, each within +-0.5
    assert img.abs().max() <= 0.5 * 3 + 1e-4


def test_minibatch_stddev_group_sizes():
    from unlearn_cli_plugins.stylegan2.discriminator import minibatch_stddev
    x = torch.randn(8, 4, 2, 2)
    y = minibatch_stddev(x, 4, 1)
    assert y.shape == (8, 5, 2, 2)
    # sample n is grouped with n + 2, n + 4, n + 6 (group index n % 2)
    ref = (x[0::2].var(0, unbiased=False) + 1e-8).sqrt().mean()
    assert torch.allclose(y[0, 4, 0, 0], ref) and torch.allclose(y[6, 4, 1, 1], ref)
    assert minibatch_stddev(torch.randn(6, 4, 2, 2), 4, 1).shape == (6, 5, 2, 2)  # 6 % 4 != 0
    assert minibatch_stddev(torch.randn(4, 4, 2, 2), 4, 2).shape == (4, 6, 2, 2)


def test_plugin_modules_do_not_import_torch():
    code = ("import sys, unlearn_cli_plugins.stylegan2 as p, unlearn_cli_plugins.stylegan2.plugin "
            "as q; q.PLUGIN.validate_config({}); assert 'torch' not in sys.modules, 'torch'; "
            "print(p.register_gans()[0].target)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "unlearn_cli_plugins.stylegan2.plugin:PLUGIN"


def test_minibatch_stddev_chunks_are_separate_minibatches():
    from unlearn_cli_plugins.stylegan2.discriminator import minibatch_stddev
    parts = [torch.randn(8, 4, 2, 2) for _ in range(3)]
    joint = minibatch_stddev(torch.cat(parts), 4, 2, chunks=3)
    alone = torch.cat([minibatch_stddev(p, 4, 2) for p in parts])
    assert torch.allclose(joint, alone, atol=1e-6)
    # without chunks the groups would mix the three parts: a different statistic
    assert not torch.allclose(minibatch_stddev(torch.cat(parts), 4, 2), alone, atol=1e-3)


def test_discriminate_chunks_equals_one_pass_per_batch():
    G, D = PLUGIN.build(small_config())
    batches = [torch.randn(4, 3, 16, 16) for _ in range(3)]
    joint = PLUGIN.discriminate_chunks(D, torch.cat(batches), 3)
    assert torch.allclose(joint, torch.cat([D(b) for b in batches]), atol=1e-5)
    with pytest.raises(ValueError, match="cannot be split"):
        D(torch.randn(5, 3, 16, 16), chunks=2)


def test_strided_blur_in_bf16_is_the_strided_filter():
    from unlearn_cli_plugins.stylegan2.layers import blur, fir_kernel
    x = torch.randn(4, 8, 16, 16)
    k = fir_kernel()
    for pad in (1, 2):
        ref = blur(x, k, pad=pad, stride=2)                    # fp32: the strided convolution
        with torch.autocast("cpu", dtype=torch.bfloat16):
            got = blur(x, k, pad=pad, stride=2)                # bf16: unstrided, then subsampled
        assert got.dtype == torch.bfloat16 and got.shape == ref.shape
        assert torch.allclose(got.float(), ref, atol=0.03)
        assert torch.allclose(blur(x.bfloat16(), k.bfloat16(), pad=pad, stride=2).float(), ref,
                              atol=0.03)
