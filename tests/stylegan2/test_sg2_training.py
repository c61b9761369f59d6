"""Training extras: style mixing, mean-w tracking, path-length regulariser, one full step."""
import torch
import torch.nn.functional as F

from sg2_helpers import randomise, small_config
from unlearn_cli_plugins.stylegan2.plugin import PLUGIN


def test_style_mixing_probability_extremes():
    G, _ = PLUGIN.build(small_config())
    z = torch.randn(4, 16)
    ws = G.ws(z, style_mixing_prob=0.0)
    assert torch.equal(ws[:, 0], ws[:, -1])
    torch.manual_seed(0)
    ws = G.ws(z, style_mixing_prob=1.0)
    assert not torch.equal(ws[:, 0], ws[:, -1])      # cut-off in 1..num_ws-1: always mixed
    assert torch.equal(ws[:, 0], G.mapping(z))


def test_generate_for_training_tracks_w_avg_in_training_mode():
    G, _ = PLUGIN.build(small_config())
    G.train()
    img = PLUGIN.generate_for_training(G, torch.randn(4, 16))
    assert img.shape == (4, 3, 16, 16) and img.requires_grad
    assert G.w_avg.abs().sum() > 0
    G.eval()
    before = G.w_avg.clone()
    PLUGIN.generate_for_training(G, torch.randn(4, 16))
    assert torch.equal(G.w_avg, before)


def test_path_length_regulariser_lazy_and_differentiable():
    G, _ = PLUGIN.build(small_config())
    randomise(G)
    assert PLUGIN.generator_regularizer(G, 8, 1) is None
    assert PLUGIN.generator_regularizer(G, 8, 3) is None
    loss = PLUGIN.generator_regularizer(G, 8, 4)
    assert loss.ndim == 0 and torch.isfinite(loss)
    assert G.pl_mean > 0 and "pl_mean" not in G.state_dict()
    loss.backward()
    assert G.synthesis.b16.conv1.weight.grad.abs().sum() > 0
    assert G.mapping.fc0.weight.grad.abs().sum() > 0
    first = G.pl_mean.clone()
    PLUGIN.generator_regularizer(G, 8, 8)
    assert not torch.equal(first, G.pl_mean)


def test_one_adversarial_step_updates_both_networks():
    G, D = PLUGIN.build(small_config())
    optg = torch.optim.Adam(G.parameters(), lr=2e-3, betas=(0.0, 0.99))
    optd = torch.optim.Adam(D.parameters(), lr=2e-3, betas=(0.0, 0.99))
    real = torch.rand(8, 3, 16, 16) * 2 - 1
    before = [p.detach().clone() for p in (G.synthesis.b8.conv0.weight, D.b16.conv0.weight)]
    fake = PLUGIN.generate_for_training(G, torch.randn(8, 16))
    loss_d = F.softplus(D(fake.detach())).mean() + F.softplus(-D(real)).mean()
    optd.zero_grad(), loss_d.backward(), optd.step()
    loss_g = F.softplus(-D(PLUGIN.generate_for_training(G, torch.randn(8, 16)))).mean()
    loss_g = loss_g + PLUGIN.generator_regularizer(G, 8, 0)
    optg.zero_grad(), loss_g.backward(), optg.step()
    after = (G.synthesis.b8.conv0.weight, D.b16.conv0.weight)
    assert all(not torch.equal(a, b) for a, b in zip(before, after))


def test_state_dict_is_plain_and_loads_into_fresh_build():
    cfg = PLUGIN.validate_config(small_config())
    G, D = PLUGIN.build(cfg)
    G2, D2 = PLUGIN.build(cfg)
    G2.load_state_dict(G.state_dict()), D2.load_state_dict(D.state_dict())
    z = torch.randn(2, 16)
    with torch.no_grad():
        assert torch.equal(G(z, noise_mode="const"), G2(z, noise_mode="const"))
