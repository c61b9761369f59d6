"""The core's own conformance checks (unlearn_cli.testing) on the stylegan2 plugin."""
import torch

from sg2_helpers import small_config
from unlearn_cli_plugins.stylegan2.plugin import PLUGIN


def test_plugin_module_conforms():
    from unlearn_cli.testing import check_plugin_module
    specs = check_plugin_module("unlearn_cli_plugins.stylegan2")
    assert [s.name for s in specs["gan"]] == ["stylegan2"]


def test_gan_plugin_conforms():
    from unlearn_cli.testing import check_gan_plugin
    # an untrained StyleGAN2 has no final tanh, so its images leave [-1, 1]
    check_gan_plugin(PLUGIN, small_config(), check_range=False)
    check_gan_plugin(PLUGIN, small_config(resolution=8, img_channels=1, conv_clamp=256),
                     check_range=False)


def test_per_sample_gradients_with_vmap():
    """The EWC Fisher uses vmap(grad(...)) over functional_call: our in-place ops must batch."""
    from torch.func import functional_call, grad, vmap
    G, D = PLUGIN.build(small_config())
    params = {k: v.detach() for k, v in G.named_parameters()}
    buffers = {k: v.detach() for k, v in G.named_buffers()}

    def score(p, z_one):
        return D(functional_call(G, (p, buffers), (z_one[None],), {"noise_mode": "const"})).sum()

    z = torch.randn(3, 16)
    batched = vmap(grad(score), in_dims=(None, 0))(params, z)
    single = grad(score)(params, z[1])
    for k in params:
        assert torch.allclose(batched[k][1], single[k], atol=1e-5, rtol=1e-4), k


def test_bf16_autocast_and_r1_double_backward():
    G, D = PLUGIN.build(small_config())
    z = torch.randn(4, 16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = D(PLUGIN.generate_for_training(G.train(), z))
    logits.float().sum().backward()
    real = torch.randn(4, 3, 16, 16, requires_grad=True)
    (g,) = torch.autograd.grad(D(real).sum(), real, create_graph=True)
    g.square().sum().backward()
    assert D.b16.conv0.weight.grad is not None
