"""Before/after evaluation on the same fixed latents: PUL, class shares, their shift, FID.

PUL (the paper's definition) = 100 * (N_target(before) - N_target(after)) / N_target(before),
a sample counting as target when the classifier's top class is the target.
FID here uses the classifier's penultimate features unless Inception weights are given
(labelled "classifier-feature FID" in every output: not comparable with published FIDs).
"""
from __future__ import annotations

from pathlib import Path

import torch

from unlearn_cli.config import RunConfig
from unlearn_cli.engine.models import generate
from unlearn_cli.errors import UnlearnError
from unlearn_cli.metrics.fid import frechet_distance


def target_index(classifier, target: str) -> int:
    classes = list(classifier.classes)
    if target in classes:
        return classes.index(target)
    if target.isdigit() and int(target) < len(classes):
        return int(target)
    raise UnlearnError(f"unknown target '{target}'; the classifier knows: {', '.join(classes)}")


@torch.no_grad()
def classify(G, classifier, n: int, seed: int, device, batch: int = 250):
    """Top-class counts and penultimate features of n samples on fixed latents."""
    labels, features = [], []
    for start in range(0, n, batch):
        images = generate(G, min(batch, n - start), seed + start, str(device))
        labels.append(classifier.probs(images).argmax(1).cpu())
        features.append(classifier.features(images).float().cpu())
    return torch.cat(labels), torch.cat(features)


def reference_features(classifier, reference: str | None, target: int, resolution: int,
                       channels: int):
    """Features of real images without the target (dataset plugin or labelled folder)."""
    if not reference:
        return None
    from unlearn_cli.plugins import get_registry

    if Path(reference).is_dir():
        from unlearn_cli.io.images import read_image_folder

        images = read_image_folder(reference, resolution, channels)
    else:
        load = get_registry().load("dataset", reference)
        images, labels = load(resolution=resolution, channels=channels)
        if labels is not None:
            images = images[labels != target]
    with torch.no_grad():
        return torch.cat([classifier.features(images[i:i + 250]).float().cpu()
                          for i in range(0, len(images), 250)])


def shares(labels: torch.Tensor, k: int) -> list[float]:
    return (torch.bincount(labels, minlength=k).double() / max(len(labels), 1)).tolist()


def evaluate_pair(G_before, G_after, classifier, config: RunConfig, device) -> dict:
    target = target_index(classifier, config.target)
    k = len(classifier.classes)
    seed = 10_000 + config.seed
    before, f_before = classify(G_before, classifier, config.eval_samples, seed, device)
    after, f_after = classify(G_after, classifier, config.eval_samples, seed, device)
    n_before, n_after = int((before == target).sum()), int((after == target).sum())
    s_before, s_after = shares(before, k), shares(after, k)
    rest = [i for i in range(k) if i != target]
    # distribution over the non-target classes, renormalised, before vs after
    nb = torch.tensor([s_before[i] for i in rest]); na = torch.tensor([s_after[i] for i in rest])
    tv = 0.5 * float((nb / nb.sum().clamp_min(1e-12) - na / na.sum().clamp_min(1e-12)).abs().sum())
    result = {
        "samples": config.eval_samples, "target": classifier.classes[target],
        "target_count_before": n_before, "target_count_after": n_after,
        "pul": round(100.0 * (n_before - n_after) / n_before, 2) if n_before else None,
        "class_share_before": dict(zip(classifier.classes, [round(s, 4) for s in s_before])),
        "class_share_after": dict(zip(classifier.classes, [round(s, 4) for s in s_after])),
        "nontarget_tv_distance": round(tv, 4),
    }
    reference = config.reference or ("digits" if config.ckpt == "bundled:digits" else None)
    real = reference_features(classifier, reference, target, G_before.img_resolution,
                              G_before.img_channels)
    if real is not None:
        keep_b, keep_a = before != target, after != target
        result["fid_kind"] = "classifier-feature FID vs real non-target images"
        result["fid_before"] = round(frechet_distance(f_before, real), 3)
        result["fid_after"] = round(frechet_distance(f_after, real), 3)
        result["fid_before_nontarget_samples"] = round(frechet_distance(f_before[keep_b], real), 3)
        result["fid_ratio"] = round(result["fid_after"] / max(result["fid_before"], 1e-9), 3)
    return result
