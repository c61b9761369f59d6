"""Morpho-MNIST's shape measurements of digit images, batched in torch (scipy for distances).

Implemented from the definitions of Castro et al., "Morpho-MNIST: Quantitative Assessment and
Diagnostics for Representation Learning", JMLR 20(178), 2019 (arXiv:1809.10780), section 2.1:

1. the grey image is upsampled 4x (bicubic) and binarised at half its intensity range
   (min + 0.5 * (max - min));
2. **thickness**: the binary digit's skeleton is taken, and thickness is twice the mean distance
   from a skeleton pixel to the background (the Euclidean distance transform), in original pixels;
3. **slant**: from the intensity moments of the upsampled image, the horizontal shear
   s = u11 / u02, and slant = arctan(-s) in radians (positive: leaning right, like italics);
4. **width, height**: the bounding parallelogram, sheared by s, that holds 98% of the ink
   (1% cut on each side along the sheared horizontal axis and along the vertical axis), in
   original pixels; **area**: ink pixels of the binary image, in original pixels.

Our own choices, where the paper leaves the algorithm open: the skeleton is Zhang & Suen's
thinning (1984) where Morpho-MNIST's code uses scikit-image's medial axis (both are one-pixel
centre lines of the binary digit; thicknesses agree to a few hundredths of a pixel on MNIST,
docs/morpho.md), and images of any size are first resized to 32 px, the padded MNIST size, so that
measurements are in MNIST pixels.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

SCALE = 4  # the paper's upsampling factor
RESOLUTION = 32  # measurements are in pixels of a 32 px image (a 28 px MNIST digit padded by 2)
BOUND_FRACTION = 0.02  # ink left outside the bounding parallelogram (half on each side)
NAMES = ("thickness", "slant", "width", "height", "area")


# Zhang & Suen's neighbours P2..P9 (N, NE, E, SE, S, SW, W, NW) as (dy, dx); neighbour i is bit i
# of a pixel's 8-bit neighbourhood code, so one table lookup decides every pixel.
_OFFSETS = ((-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1), (-1, -1))


def _removal_tables() -> tuple[torch.Tensor, torch.Tensor]:
    """For each of the 256 neighbourhood codes: is a foreground pixel with it removed in the
    first / the second sub-iteration? (2 <= B <= 6, A == 1 and each sub-iteration's own test.)"""
    tables = []
    for first in (True, False):
        table = torch.zeros(256, dtype=torch.bool)
        for code in range(256):
            p = [(code >> i) & 1 for i in range(8)]
            count = sum(p)
            transitions = sum(p[i] == 0 and p[(i + 1) % 8] == 1 for i in range(8))
            p2, p4, p6, p8 = p[0], p[2], p[4], p[6]
            side = (p2 * p4 * p6 == 0 and p4 * p6 * p8 == 0) if first else (p2 * p4 * p8 == 0 and p2 * p6 * p8 == 0)
            table[code] = 2 <= count <= 6 and transitions == 1 and side
        tables.append(table)
    return tables[0], tables[1]


_TABLES = _removal_tables()


def thin(binary: torch.Tensor, max_iters: int = 100) -> torch.Tensor:
    """Zhang-Suen thinning of a batch of binary images [N, H, W] (bool): the skeletons.

    Works on the list of remaining ink pixels (a few percent of all pixels), not on whole images:
    each sub-iteration reads every ink pixel's 8 neighbours from a padded flat copy at once (the
    decision uses the state before the sub-iteration, as the algorithm requires), then clears
    the removed pixels."""
    n, h, w = binary.shape
    row = w + 2
    padded = F.pad(binary.to(torch.uint8), (1, 1, 1, 1)).reshape(-1).clone()
    ink = torch.nonzero(padded).squeeze(1)
    offsets = torch.tensor([dy * row + dx for dy, dx in _OFFSETS])
    weights = 2 ** torch.arange(8)
    for _ in range(max_iters):
        removed_any = False
        for table in _TABLES:
            code = (padded[ink[:, None] + offsets[None, :]].long() * weights).sum(1)
            remove = table[code]
            if bool(remove.any()):
                padded[ink[remove]] = 0
                ink = ink[~remove]
                removed_any = True
        if not removed_any:
            break
    return padded.view(n, h + 2, w + 2)[:, 1:-1, 1:-1].bool()


def _distance_to_background(binary: np.ndarray) -> np.ndarray:
    from scipy.ndimage import distance_transform_edt

    out = np.zeros(binary.shape, dtype=np.float32)
    for i, image in enumerate(binary):
        if image.any():
            out[i] = distance_transform_edt(image)
    return out


def _quantiles_of_mass(coord: torch.Tensor, mass: torch.Tensor, size: int, q: tuple[float, float]) -> torch.Tensor:
    """Per image: where the ink's cumulative distribution along ``coord`` crosses q[0] and q[1].

    As in the paper's bounding box, the distribution is evaluated at the integer positions
    0..size-1 (the ink with coordinate < t) and interpolated linearly between them. The ink with
    coordinate < t is the ink whose floor(coordinate) < t, so a histogram over floor(coordinate)
    and its running sum give every step at once."""
    n = coord.shape[0]
    bins = coord.reshape(n, -1).floor().clamp(-1, size).long() + 1  # bin 0: below 0; size + 1: at or above size
    hist = torch.zeros(n, size + 2, dtype=mass.dtype).scatter_add_(1, bins, mass.reshape(n, -1))
    cdf = hist.cumsum(1)[:, :size] / hist.sum(1, keepdim=True).clamp_min(1e-12)  # cdf[:, t]: coordinate < t
    out = []
    for level in q:  # first grid step whose cdf reaches the level, interpolated from the one before
        reached = cdf >= level
        above = reached.to(torch.int64).argmax(1).clamp_min(1)
        lo_c, hi_c = cdf.gather(1, (above - 1)[:, None])[:, 0], cdf.gather(1, above[:, None])[:, 0]
        frac = ((level - lo_c) / (hi_c - lo_c).clamp_min(1e-12)).clamp(0, 1)
        # a level the grid never reaches (ink up to the border) stops at the last step, as
        # linear interpolation beyond the last point does
        out.append(torch.where(reached.any(1), above.to(coord.dtype) - 1 + frac,
                               torch.full_like(frac, size - 1, dtype=coord.dtype)))
    return torch.stack(out, 1)


@torch.no_grad()
def measure(images: torch.Tensor) -> dict[str, torch.Tensor]:
    """Morpho-MNIST measurements of images [N, C, H, W] in [-1, 1] (ink bright, as MNIST):
    {"thickness", "slant", "width", "height", "area"}, each a float32 tensor [N] on the CPU."""
    x = images.detach().float().cpu()
    x = (x.mean(1, keepdim=True) + 1) / 2  # grey, in [0, 1]
    if tuple(x.shape[-2:]) != (RESOLUTION, RESOLUTION):
        x = F.interpolate(x, size=(RESOLUTION, RESOLUTION), mode="bilinear", align_corners=False,
                          antialias=x.shape[-1] > RESOLUTION)
    hi = F.interpolate(x, scale_factor=SCALE, mode="bicubic", align_corners=False).clamp_(0, 1)[:, 0]
    lo_v, hi_v = hi.amin((1, 2), keepdim=True), hi.amax((1, 2), keepdim=True)
    binary = hi >= lo_v + 0.5 * (hi_v - lo_v)
    skeleton = thin(binary)
    distance = torch.from_numpy(_distance_to_background(binary.numpy()))
    on_skeleton = skeleton.sum((1, 2)).clamp_min(1)
    thickness = 2 * (distance * skeleton).sum((1, 2)) / on_skeleton / SCALE

    n, h, w = hi.shape
    ys = torch.arange(h, dtype=torch.float64)[:, None].expand(h, w)
    xs = torch.arange(w, dtype=torch.float64)[None, :].expand(h, w)
    m = hi.double()
    m00 = m.sum((1, 2)).clamp_min(1e-12)
    mx, my = (xs * m).sum((1, 2)) / m00, (ys * m).sum((1, 2)) / m00
    u11 = (xs * ys * m).sum((1, 2)) / m00 - mx * my
    u02 = ((ys ** 2) * m).sum((1, 2)) / m00 - my ** 2
    shear = u11 / u02.clamp_min(1e-12)
    slant = torch.atan(-shear)
    half = BOUND_FRACTION / 2
    sheared_x = xs[None] + 0.5 - shear[:, None, None] * (ys[None] - my[:, None, None])
    left_right = _quantiles_of_mass(sheared_x, m, w, (half, 1 - half))
    top_bottom = _quantiles_of_mass(ys[None].expand(n, h, w), m, h, (half, 1 - half))
    return {
        "thickness": thickness.float(),
        "slant": slant.float(),
        "width": ((left_right[:, 1] - left_right[:, 0]) / SCALE).float(),
        "height": ((top_bottom[:, 1] - top_bottom[:, 0]) / SCALE).float(),
        "area": (binary.sum((1, 2)).float() / SCALE ** 2),
    }
