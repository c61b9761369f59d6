"""StyleGAN2 generator: mapping network + skip-architecture synthesis network.

Parameter names (docs/formats.md):
    mapping.fc{i}.weight [w_dim, in], mapping.fc{i}.bias            i = 0 .. mapping_layers-1
    w_avg [w_dim]                                                    mean w (truncation target)
    synthesis.const [C4, 4, 4]
    synthesis.b4.conv1.*, synthesis.b4.torgb.*
    synthesis.b{r}.conv0.* (2x up), synthesis.b{r}.conv1.*, synthesis.b{r}.torgb.*   r = 8 .. R
with conv*: weight [O, I, 3, 3], bias [O], affine.weight [I, w_dim], affine.bias [I],
noise_strength [], noise_const [r, r]; torgb: weight [C_img, I, 1, 1], bias [C_img], affine.*.
"""
from __future__ import annotations

import torch
from torch import nn

from .config import num_ws, resolutions, validate_config
from .layers import EqualLinear, ModulatedConv, ToRGB, fir_kernel, upsample2d


class MappingNetwork(nn.Module):
    """z -> w: normalise z (second moment), then ``num_layers`` equalised FC + leaky ReLU layers
    with learning-rate multiplier ``lr_mul``."""

    def __init__(self, z_dim: int, w_dim: int, num_layers: int, lr_mul: float):
        super().__init__()
        self.num_layers = num_layers
        for i in range(num_layers):
            fc = EqualLinear(z_dim if i == 0 else w_dim, w_dim, lr_mul=lr_mul, activate=True)
            setattr(self, f"fc{i}", fc)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = z * (z.square().mean(dim=1, keepdim=True) + 1e-8).rsqrt()
        for i in range(self.num_layers):
            x = getattr(self, f"fc{i}")(x)
        return x


class SynthesisBlock(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, res: int, w_dim: int, img_channels: int,
                 conv_clamp):
        super().__init__()
        self.res = res
        if res > 4:
            self.conv0 = ModulatedConv(in_ch, out_ch, w_dim, res, up=True, conv_clamp=conv_clamp)
        self.conv1 = ModulatedConv(out_ch, out_ch, w_dim, res, conv_clamp=conv_clamp)
        self.torgb = ToRGB(out_ch, img_channels, w_dim, conv_clamp=conv_clamp)
        self.register_buffer("fir4", fir_kernel(4.0), persistent=False)

    def forward(self, x, img, ws, noise_mode):
        """ws: [N, 2 or 3, w_dim] (conv0?, conv1, torgb)."""
        i = 0
        if self.res > 4:
            x = self.conv0(x, ws[:, 0], noise_mode)
            i = 1
        x = self.conv1(x, ws[:, i], noise_mode)
        y = self.torgb(x, ws[:, i + 1])
        img = y if img is None else upsample2d(img, self.fir4) + y
        return x, img


class SynthesisNetwork(nn.Module):
    def __init__(self, cfg: dict):
        super().__init__()
        ch = {int(k): v for k, v in cfg["channels"].items()}
        self.resolutions = resolutions(cfg["resolution"])
        self.num_ws = num_ws(cfg["resolution"])
        self.const = nn.Parameter(torch.randn(ch[4], 4, 4))
        for r in self.resolutions:
            blk = SynthesisBlock(ch[max(r // 2, 4)], ch[r], r, cfg["w_dim"], cfg["img_channels"],
                                 cfg["conv_clamp"])
            setattr(self, f"b{r}", blk)

    def forward(self, ws: torch.Tensor, noise_mode: str = "random") -> torch.Tensor:
        x = self.const          # [C, 4, 4]: broadcast against the styles in b4.conv1
        img = None
        for j, r in enumerate(self.resolutions):
            lo = max(2 * j - 1, 0)
            x, img = getattr(self, f"b{r}")(x, img, ws[:, lo:2 * j + 2], noise_mode)
        return img


class Generator(nn.Module):
    """``G(z, truncation_psi=1.0, noise_mode="random"|"const"|"none") -> images [N, C, R, R]``.

    Style mixing: ``G(z, mix_z=z2, mix_index=k)`` uses w(z) for the first k w slots and w(z2)
    for the rest. Truncation pulls every w toward the buffer ``w_avg``. ``G.ws(...)`` and
    ``G.synthesis(ws, noise_mode)`` expose the two halves; ``return_ws=True`` returns
    ``(images, ws)`` with ``ws`` the tensor the synthesis network consumed (for path length).
    """

    def __init__(self, config: dict):
        super().__init__()
        cfg = validate_config(config)
        self.config = cfg
        self.z_dim, self.w_dim = cfg["z_dim"], cfg["w_dim"]
        self.img_resolution, self.img_channels = cfg["resolution"], cfg["img_channels"]
        self.num_ws = num_ws(self.img_resolution)
        self.mapping = MappingNetwork(self.z_dim, self.w_dim, cfg["mapping_layers"],
                                      cfg["mapping_lr_mul"])
        self.synthesis = SynthesisNetwork(cfg)
        self.register_buffer("w_avg", torch.zeros(self.w_dim))
        # running mean of path lengths (path-length regulariser); training state, not saved
        self.register_buffer("pl_mean", torch.zeros([]), persistent=False)

    def ws(self, z: torch.Tensor, truncation_psi: float = 1.0, mix_z: torch.Tensor | None = None,
           mix_index: int | None = None, style_mixing_prob: float = 0.0,
           update_w_avg: bool = False) -> torch.Tensor:
        """Per-layer latents [N, num_ws, w_dim], with optional mixing and truncation.

        ``mix_z``/``mix_index``: deterministic mixing. ``style_mixing_prob``: training-time
        mixing with a fresh z and a random cut-off, chosen on the device (no host sync).
        ``update_w_avg``: track the mean w (moving average, beta 0.995) in training mode.
        """
        w = self.mapping(z)
        if update_w_avg and self.training:
            self.track_w_avg(w)
        ws = w.unsqueeze(1).expand(-1, self.num_ws, -1)
        if mix_z is not None:
            k = self.num_ws // 2 if mix_index is None else int(mix_index)
            if not 0 <= k <= self.num_ws:
                raise ValueError(f"mix_index must be in 0..{self.num_ws}, got {k}")
            w2 = self.mapping(mix_z).unsqueeze(1).expand(-1, self.num_ws - k, -1)
            ws = torch.cat([ws[:, :k], w2], dim=1)
        elif style_mixing_prob > 0:
            w2 = self.mapping(torch.randn_like(z))
            cut = torch.randint(1, self.num_ws, (), device=z.device)
            cut = torch.where(torch.rand((), device=z.device) < style_mixing_prob, cut,
                              torch.full_like(cut, self.num_ws))
            later = torch.arange(self.num_ws, device=z.device)[None, :, None] >= cut
            ws = torch.where(later, w2.unsqueeze(1), ws)
        if truncation_psi != 1:
            ws = self.w_avg.lerp(ws, truncation_psi)
        return ws

    def forward(self, z: torch.Tensor | None = None, truncation_psi: float = 1.0,
                noise_mode: str = "random", *, ws: torch.Tensor | None = None,
                mix_z: torch.Tensor | None = None, mix_index: int | None = None,
                style_mixing_prob: float = 0.0, update_w_avg: bool = False,
                return_ws: bool = False):
        if ws is None:
            ws = self.ws(z, truncation_psi, mix_z, mix_index, style_mixing_prob, update_w_avg)
        img = self.synthesis(ws, noise_mode)
        return (img, ws) if return_ws else img

    @torch.no_grad()
    def estimate_w_avg(self, n: int = 10000, seed: int = 0, batch: int = 2000) -> torch.Tensor:
        """Set ``w_avg`` to the mean of w over ``n`` latents drawn with ``seed``; returns it."""
        gen = torch.Generator().manual_seed(seed)
        total = torch.zeros(self.w_dim, dtype=torch.float64, device=self.w_avg.device)
        done = 0
        while done < n:
            b = min(batch, n - done)
            z = torch.randn(b, self.z_dim, generator=gen).to(self.w_avg.device)
            total += self.mapping(z).double().sum(0)
            done += b
        self.w_avg.copy_((total / n).to(self.w_avg.dtype))
        return self.w_avg

    @torch.no_grad()
    def track_w_avg(self, w: torch.Tensor, beta: float = 0.995) -> None:
        """Exponential moving average of w during training (NVIDIA's w_avg_beta)."""
        self.w_avg.copy_(w.detach().mean(0).to(self.w_avg.dtype).lerp(self.w_avg, beta))
