"""A tiny DCGAN for tests and small images. No batch norm (it would couple samples in a batch,
which breaks per-sample Fisher gradients); layer norm-free, leaky ReLUs, resolution 8 to 64."""
from __future__ import annotations

import math

import torch
from torch import nn

from unlearn_cli.api import UnlearnError

DEFAULTS = {"resolution": 16, "z_dim": 32, "channels": 32, "img_channels": 1}


class Generator(nn.Module):
    def __init__(self, resolution: int, z_dim: int, channels: int, img_channels: int):
        super().__init__()
        self.z_dim, self.img_resolution, self.img_channels = z_dim, resolution, img_channels
        self.fc = nn.Linear(z_dim, channels * 16)
        layers = []
        for _ in range(int(math.log2(resolution)) - 2):
            layers += [nn.Upsample(scale_factor=2), nn.Conv2d(channels, channels, 3, padding=1),
                       nn.LeakyReLU(0.2)]
        self.body = nn.Sequential(*layers)
        self.to_img = nn.Conv2d(channels, img_channels, 3, padding=1)
        self.channels = channels

    def forward(self, z, truncation_psi: float = 1.0, noise_mode: str = "random"):
        # no noise inputs and no mapping network: truncation scales z toward 0, its mean
        x = self.fc(z * truncation_psi).view(len(z), self.channels, 4, 4)
        return torch.tanh(self.to_img(self.body(nn.functional.leaky_relu(x, 0.2))))


class Discriminator(nn.Module):
    def __init__(self, resolution: int, channels: int, img_channels: int, **_):
        super().__init__()
        layers = [nn.Conv2d(img_channels, channels, 3, padding=1), nn.LeakyReLU(0.2)]
        for _ in range(int(math.log2(resolution)) - 2):
            layers += [nn.Conv2d(channels, channels, 4, stride=2, padding=1), nn.LeakyReLU(0.2)]
        self.body = nn.Sequential(*layers)
        self.out = nn.Linear(channels * 16, 1)

    def forward(self, img):
        return self.out(self.body(img).flatten(1)).squeeze(1)


class DCGANPlugin:
    name = "dcgan"

    def default_config(self) -> dict:
        return dict(DEFAULTS)

    def validate_config(self, config: dict) -> dict:
        unknown = set(config) - set(DEFAULTS)
        if unknown:
            raise UnlearnError(f"unknown dcgan config key(s): {', '.join(sorted(unknown))}")
        merged = {**DEFAULTS, **config}
        for key in ("z_dim", "channels"):
            value = merged[key]
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise UnlearnError(f"dcgan {key} must be a whole number >= 1, got {value!r}")
        if merged["resolution"] not in (8, 16, 32, 64):
            raise UnlearnError("dcgan resolution must be 8, 16, 32 or 64")
        if merged["img_channels"] not in (1, 3):
            raise UnlearnError("dcgan img_channels must be 1 or 3")
        return merged

    def estimate(self, config: dict) -> dict:
        """Sizes without building: every parameter of G and D exactly; float32 feature maps
        of one image through G and D (about) for the core's size check before build."""
        c = self.validate_config(config)
        ch, z, img, steps = c["channels"], c["z_dim"], c["img_channels"], int(math.log2(c["resolution"])) - 2
        conv = ch * ch * 9 + ch
        g = z * ch * 16 + ch * 16 + steps * conv + img * ch * 9 + img
        d = img * ch * 9 + ch + steps * (ch * ch * 16 + ch) + ch * 16 + 1
        acts = sum(3 * ch * (4 * 2 ** i) ** 2 for i in range(steps + 1)) * 2
        return {"parameters": g + d, "activation_bytes_per_image": 4 * acts}

    def build(self, config: dict):
        c = self.validate_config(config)
        return Generator(**c), Discriminator(**c)

    def can_import(self, path) -> bool:
        return False

    def import_checkpoint(self, path):
        raise UnlearnError("the dcgan plugin reads only gan-unlearn .safetensors files")


PLUGIN = DCGANPlugin()
