"""How sample sets are held: float32 for small images, uint8 for large ones.

2000 positives of a 256 px RGB model are 1.5 GB as float32 and 393 MB as uint8, and a run
keeps them for its whole length (and writes them to samples.safetensors). Generated images are
meant to be looked at as 8-bit pictures anyway, so from :data:`COMPACT_MIN_VALUES` values per
image on, a set is stored as uint8 (0..255 for [-1, 1], the same rounding as our PNGs) and
decoded batch by batch where it is used. Small images (the bundled models) stay float32, so
their results are exactly what they were.
"""
from __future__ import annotations

import torch

COMPACT_MIN_VALUES = 64 * 64 * 3  # a 64 px RGB image and larger is stored as uint8


def is_large(images: torch.Tensor) -> bool:
    """True for [N, C, H, W] sets whose images have COMPACT_MIN_VALUES values or more."""
    return images.dim() == 4 and images.shape[1] * images.shape[2] * images.shape[3] >= COMPACT_MIN_VALUES


def encode(images: torch.Tensor) -> torch.Tensor:
    """[-1, 1] floats -> uint8 0..255 (NaN as mid-grey), on the same device."""
    x = torch.nan_to_num(images.detach().float(), nan=0.0).clamp_(-1.0, 1.0)
    return x.add_(1.0).mul_(127.5).round_().to(torch.uint8)


def compact(images: torch.Tensor) -> torch.Tensor:
    """The form a set of these images is kept in: uint8 when large, else contiguous float32."""
    if images.dtype == torch.uint8:
        return images.contiguous()
    if is_large(images):
        return encode(images).contiguous()
    return images.float().clone(memory_format=torch.contiguous_format)


def as_float(images: torch.Tensor) -> torch.Tensor:
    """Images in [-1, 1] as float32, whichever form they are kept in."""
    if images.dtype == torch.uint8:
        return images.float().div_(127.5).sub_(1.0)
    return images.float()
