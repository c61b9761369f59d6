"""StyleGAN2 residual discriminator with minibatch standard deviation.

Parameter names (docs/formats.md), R = resolution, r = R .. 8:
    b{R}.fromrgb.weight [C_R, C_img, 1, 1], b{R}.fromrgb.bias
    b{r}.conv0.weight [C_r, C_r, 3, 3], .bias ; b{r}.conv1.weight [C_r/2, C_r, 3, 3] (2x down), .bias
    b{r}.skip.weight [C_r/2, C_r, 1, 1] (2x down, no bias)
    b4.conv.weight [C4, C4 + mbstd_channels, 3, 3], .bias ; b4.fc.weight [C4, C4*16], .bias
    b4.out.weight [1, C4], .bias
"""
from __future__ import annotations

import torch
from torch import nn

from .config import resolutions, validate_config
from .layers import SQRT_HALF, EqualConv2d, EqualLinear


class DiscriminatorBlock(nn.Module):
    """Residual block: (conv3x3, conv3x3 down) + (1x1 down skip), summed times sqrt(1/2).

    ``conv_clamp`` clamps fromrgb, conv0 and conv1 (conv1 at conv_clamp * sqrt(1/2), after its
    gain), never the skip branch, exactly as NVIDIA's DiscriminatorBlock."""

    def __init__(self, in_ch: int, out_ch: int, img_channels: int, first: bool, conv_clamp):
        super().__init__()
        if first:
            self.fromrgb = EqualConv2d(img_channels, in_ch, 1, conv_clamp=conv_clamp)
        self.conv0 = EqualConv2d(in_ch, in_ch, 3, conv_clamp=conv_clamp)
        # both branches carry the residual gain sqrt(1/2) (folded into their weights)
        self.conv1 = EqualConv2d(in_ch, out_ch, 3, down=True, conv_clamp=conv_clamp,
                                 gain=SQRT_HALF)
        # the skip layer is never clamped: NVIDIA's has no conv_clamp (a clamp there moves the
        # logits of their pickles whose clamp bites, issue 19.14)
        self.skip = EqualConv2d(in_ch, out_ch, 1, bias=False, activate=False, down=True,
                                gain=SQRT_HALF)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if hasattr(self, "fromrgb"):
            x = self.fromrgb(x)
        y = self.skip(x)
        return y.add_(self.conv1(self.conv0(x)))


def minibatch_stddev(x: torch.Tensor, group_size: int, num_channels: int,
                     chunks: int = 1) -> torch.Tensor:
    """Append ``num_channels`` feature maps: the standard deviation over groups of samples.

    Sample n belongs to group n % (N / G), as in both reference implementations. Where N is not
    a multiple of the group size, the largest divisor of N below it is used (they would fail).
    With ``chunks`` > 1 the batch is that many equal minibatches stacked (reals and fakes in one
    pass): groups never mix chunks, so every chunk gets what it would get on its own.
    """
    n, c, h, w = x.shape
    b = n // chunks
    g = min(group_size, b)
    while b % g:
        g -= 1
    f = num_channels
    y = x.reshape(chunks, g, -1, f, c // f, h, w)
    y = y - y.mean(dim=1, keepdim=True)
    y = (y.square().mean(dim=1) + 1e-8).sqrt()                     # [chunks, b/g, f, c/f, h, w]
    y = y.mean(dim=(3, 4, 5))[:, None, :, :, None, None]            # [chunks, 1, b/g, f, 1, 1]
    y = y.expand(chunks, g, b // g, f, h, w).reshape(n, f, h, w)
    return torch.cat([x, y], dim=1)


class Epilogue(nn.Module):
    def __init__(self, ch: int, mbstd_group_size: int, mbstd_channels: int, conv_clamp):
        super().__init__()
        self.mbstd_group_size, self.mbstd_channels = mbstd_group_size, mbstd_channels
        self.conv = EqualConv2d(ch + mbstd_channels, ch, 3, conv_clamp=conv_clamp)
        self.fc = EqualLinear(ch * 16, ch, activate=True)
        self.out = EqualLinear(ch, 1)

    def forward(self, x: torch.Tensor, chunks: int = 1) -> torch.Tensor:
        if self.mbstd_channels:
            x = minibatch_stddev(x, self.mbstd_group_size, self.mbstd_channels, chunks)
        x = self.conv(x)
        return self.out(self.fc(x.flatten(1)))


class Discriminator(nn.Module):
    """``D(images [N, C, R, R]) -> logits [N]``; ``D(images, chunks=k)`` treats the batch as k
    stacked minibatches of N / k (only the minibatch stddev looks across samples)."""

    def __init__(self, config: dict):
        super().__init__()
        cfg = validate_config(config)
        self.config = cfg
        self.img_resolution, self.img_channels = cfg["resolution"], cfg["img_channels"]
        ch = {int(k): v for k, v in cfg["d_channels"].items()}
        self.block_resolutions = [r for r in reversed(resolutions(cfg["resolution"])) if r > 4]
        for r in self.block_resolutions:
            blk = DiscriminatorBlock(ch[r], ch[r // 2], cfg["img_channels"],
                                     r == cfg["resolution"], cfg["conv_clamp"])
            setattr(self, f"b{r}", blk)
        self.b4 = Epilogue(ch[4], cfg["mbstd_group_size"], cfg["mbstd_channels"],
                           cfg["conv_clamp"])

    def forward(self, img: torch.Tensor, chunks: int = 1) -> torch.Tensor:
        if img.shape[0] % chunks:
            raise ValueError(f"a batch of {img.shape[0]} cannot be split into {chunks} chunks")
        x = img
        for r in self.block_resolutions:
            x = getattr(self, f"b{r}")(x)
        return self.b4(x, chunks).squeeze(1)
