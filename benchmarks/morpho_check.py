"""Our Morpho-MNIST thickness (Zhang-Suen skeleton) against scikit-image's medial axis.

    pip install scikit-image   # only for this check; gan-unlearn does not depend on it
    python benchmarks/morpho_check.py [--n 1000] [--resolution 32]

Morpho-MNIST's own code takes the skeleton with ``skimage.morphology.medial_axis``; we use Zhang
and Suen's thinning (plugins/morpho/measure.py). This measures both on the same binarised,
4x upsampled real MNIST digits and prints how far the two thicknesses are apart, and how often
they disagree on `thick` (the morpho classifier's default threshold at that size).
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch
import torch.nn.functional as F

from unlearn_cli_plugins.mnist.data import split
from unlearn_cli_plugins.morpho import measure as ours
from unlearn_cli_plugins.morpho.options import default_thresholds


def medial_axis_thickness(images: torch.Tensor) -> np.ndarray:
    """Thickness with scikit-image's medial axis on the same binary image as ours."""
    from skimage.morphology import medial_axis

    x = (images.float().mean(1, keepdim=True) + 1) / 2
    if x.shape[-1] != ours.RESOLUTION:
        x = F.interpolate(x, size=(ours.RESOLUTION, ours.RESOLUTION), mode="bilinear", align_corners=False)
    hi = F.interpolate(x, scale_factor=ours.SCALE, mode="bicubic", align_corners=False).clamp_(0, 1)[:, 0]
    lo_v, hi_v = hi.amin((1, 2), keepdim=True), hi.amax((1, 2), keepdim=True)
    binary = (hi >= lo_v + 0.5 * (hi_v - lo_v)).numpy()
    out = np.zeros(len(binary))
    for i, image in enumerate(binary):
        skeleton, distance = medial_axis(image, return_distance=True)
        out[i] = 2 * distance[skeleton].mean() / ours.SCALE
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--resolution", type=int, default=32)
    args = ap.parse_args()
    images, _ = split("all", args.resolution, 1)
    images = images[torch.randperm(len(images), generator=torch.Generator().manual_seed(0))[:args.n]]
    started = time.perf_counter()
    mine = ours.measure(images)["thickness"].numpy()
    ours_s = time.perf_counter() - started
    started = time.perf_counter()
    theirs = medial_axis_thickness(images)
    theirs_s = time.perf_counter() - started
    diff = mine - theirs
    high = default_thresholds("thickness", args.resolution)[1]
    result = {"digits": args.n, "resolution": args.resolution,
              "mean_ours": round(float(mine.mean()), 3), "mean_medial_axis": round(float(theirs.mean()), 3),
              "mean_diff": round(float(diff.mean()), 3), "mean_abs_diff": round(float(np.abs(diff).mean()), 3),
              "correlation": round(float(np.corrcoef(mine, theirs)[0, 1]), 4),
              "thick_threshold": high, "thick_ours": round(float((mine > high).mean()), 4),
              "thick_medial_axis": round(float((theirs > high).mean()), 4),
              "thick_disagree": round(float(((mine > high) != (theirs > high)).mean()), 4),
              "seconds_ours": round(ours_s, 2), "seconds_medial_axis": round(theirs_s, 2)}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
