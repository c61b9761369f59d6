"""Discriminator parity under a conv_clamp that bites (issue 19.14).

The reference below is a direct, loop-free transcription of the NVIDIA discriminator's
semantics from docs/formats.md and ../shared/stylegan2-formats.md (written here, not copied):
every conv layer computes ``clamp(gain * lrelu_sqrt2(conv + b), +-conv_clamp * gain)``; the
residual block sums ``skip(x)`` (1x1, 2x down, gain sqrt(1/2), *no clamp*) and
``conv1(conv0(x))`` (conv1 with gain sqrt(1/2)). Our D must match it to float32 rounding with a
clamp small enough that many activations hit it.
"""
import math

import torch
import torch.nn.functional as F

from sg2_helpers import randomise, small_config
from unlearn_cli_plugins.stylegan2.plugin import PLUGIN

CLAMP = 0.05  # far inside the activations' range: most of them are clamped


def _fir() -> torch.Tensor:
    k = torch.tensor([1.0, 3.0, 3.0, 1.0])
    k = torch.outer(k, k)
    return k / k.sum()


def _filter(x, pad):
    c = x.shape[1]
    return F.conv2d(F.pad(x, [pad] * 4), _fir()[None, None].repeat(c, 1, 1, 1), groups=c)


def _conv(x, state, name, *, down=False, act=True, gain=1.0, clamp=None, bias=True):
    w = state[f"{name}.weight"]
    k = w.shape[-1]
    w = w / math.sqrt(w[0].numel())
    if down and k == 1:
        x = _filter(x, 1)[:, :, ::2, ::2]
        x = F.conv2d(x, w)
    elif down:
        x = F.conv2d(_filter(x, 2), w, stride=2)
    else:
        x = F.conv2d(x, w, padding=k // 2)
    if bias:
        x = x + state[f"{name}.bias"][None, :, None, None]
    if act:
        x = F.leaky_relu(x, 0.2) * math.sqrt(2)
    x = x * gain
    if clamp is not None:
        x = x.clamp(-clamp * gain, clamp * gain)
    return x


def _reference_d(state, cfg, img, clamp):
    res = cfg["resolution"]
    x = _conv(img, state, f"b{res}.fromrgb", clamp=clamp)
    r = res
    while r > 4:
        h = math.sqrt(0.5)
        y = _conv(x, state, f"b{r}.skip", down=True, act=False, gain=h, bias=False)  # no clamp
        t = _conv(x, state, f"b{r}.conv0", clamp=clamp)
        t = _conv(t, state, f"b{r}.conv1", down=True, gain=h, clamp=clamp)
        x = y + t
        r //= 2
    n, c, hh, ww = x.shape  # minibatch stddev, group of 4, 1 feature
    g = min(cfg.get("mbstd_group_size", 4), n)
    s = x.reshape(g, -1, 1, c, hh, ww)
    s = ((s - s.mean(0)).square().mean(0) + 1e-8).sqrt().mean(dim=(2, 3, 4))
    x = torch.cat([x, s.reshape(-1, 1, 1, 1).repeat(g, 1, hh, ww)], dim=1)
    x = _conv(x, state, "b4.conv", clamp=clamp).flatten(1)
    fc = state["b4.fc.weight"]
    x = F.leaky_relu(x @ (fc / math.sqrt(fc.shape[1])).t() + state["b4.fc.bias"], 0.2) * math.sqrt(2)
    out = state["b4.out.weight"]
    return (x @ (out / math.sqrt(out.shape[1])).t() + state["b4.out.bias"]).squeeze(1)


def _models(clamp):
    cfg = PLUGIN.validate_config(small_config(resolution=16, conv_clamp=clamp))
    _, D = PLUGIN.build(cfg)
    return cfg, randomise(D, 3).eval()


def test_discriminator_matches_the_reference_when_the_clamp_bites():
    cfg, D = _models(CLAMP)
    img = torch.randn(8, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ours = D(img)
        ref = _reference_d(D.state_dict(), cfg, img, CLAMP)
        unclamped = _reference_d(D.state_dict(), cfg, img, None)
    assert (ref - unclamped).abs().max() > 1e-2  # the clamp really changes the logits
    assert (ours - ref).abs().max() < 1e-5, (ours - ref).abs().max()


def test_skip_branch_carries_no_clamp():
    _, D = _models(CLAMP)
    blocks = [m for name, m in D.named_modules() if name.endswith(".skip") or name == "skip"]
    assert blocks and all(b.clamp is None for b in blocks)
    assert all(getattr(D, f"b{r}").conv1.clamp == CLAMP * math.sqrt(0.5)
               for r in D.block_resolutions)
