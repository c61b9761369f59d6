"""Quality of a digit generator: class shares, classifier confidence, FID against held-out digits.

    python benchmarks/model_quality.py [MODEL] [--samples 10000] [--classifier NAME] [--dataset NAME]

MODEL defaults to the bundled MNIST model; the classifier and the dataset default to the bundled
model's own (bundled:mnist -> mnist). Prints a table and one JSON line with: each class's share
of MODEL's samples, the share classified with p >= 0.9, and the classifier-feature FID of the
samples against the dataset's held-out digits (its `split` part "heldout", never trained on),
beside the same FID of the train digits against them (the floor a perfect generator reaches).
Targets (issue 15, the MNIST model): every class >= 7% of 10k samples, >= 90% with p >= 0.9.
"""
from __future__ import annotations

import argparse
import importlib
import json
import time

import torch

from unlearn_cli.api import load_component
from unlearn_cli.engine.models import bundled_name, generate, load_gan
from unlearn_cli.metrics.fid import frechet_distance
from unlearn_cli.plugins import get_registry


@torch.no_grad()
def features_of(classifier, images: torch.Tensor, batch: int = 500) -> torch.Tensor:
    return torch.cat([classifier.features(images[i:i + batch]).float() for i in range(0, len(images), batch)])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("model", nargs="?", default="bundled:mnist")
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument("--classifier", default=None, help="default: the bundled model's own")
    parser.add_argument("--dataset", default=None, help="held-out digits for the FID; default: the bundled model's")
    parser.add_argument("--seed", type=int, default=123)
    args = parser.parse_args()
    dataset = args.dataset or bundled_name(args.model)
    spec = get_registry().find("dataset", dataset) if dataset else None
    name = args.classifier or (spec.options.get("classifier") if spec else None)
    if not name:
        parser.error("pass --classifier (and --dataset for the FID) for a model that is not bundled")
    bundle = load_gan(args.model)
    G = bundle.G_ema
    classifier = load_component("classifier", name)(None, "cpu")
    started = time.perf_counter()
    top, conf, feats = [], [], []
    with torch.no_grad():
        for start in range(0, args.samples, 500):
            images = generate(G, min(500, args.samples - start), args.seed + start, "cpu")
            p = classifier.probs(images)
            top.append(p.argmax(1))
            conf.append(p.max(1).values)
            feats.append(classifier.features(images).float())
    top, conf, feats = torch.cat(top), torch.cat(conf), torch.cat(feats)
    shares = (torch.bincount(top, minlength=len(classifier.classes)).double() / len(top)).tolist()
    confident = float((conf >= 0.9).double().mean())
    fid = {}
    if spec is not None and spec.options.get("split"):
        module, _, attr = spec.options["split"].partition(":")  # "module:function", as spec targets
        split = getattr(importlib.import_module(module), attr)
        held, _ = split("heldout", G.img_resolution, G.img_channels)
        train, _ = split("train", G.img_resolution, G.img_channels)
        held_f = features_of(classifier, held)
        fid = {"fid_vs_heldout": round(frechet_distance(feats, held_f), 3),
               "fid_train_vs_heldout": round(frechet_distance(features_of(classifier, train), held_f), 3),
               "heldout_images": len(held)}
    print(f"model {args.model}  samples {len(top)}  classifier {name}")
    for cls, share in zip(classifier.classes, shares):
        print(f"  class {cls}: {100 * share:5.1f}%")
    print(f"  confident (p >= 0.9): {100 * confident:.1f}%   min share {100 * min(shares):.1f}%")
    if fid:
        print(f"  classifier-feature FID vs {fid['heldout_images']} held-out digits: {fid['fid_vs_heldout']:.2f} "
              f"(train digits vs held-out: {fid['fid_train_vs_heldout']:.2f})")
    print(json.dumps({"model": args.model, "classifier": name, "samples": len(top),
                      "shares": dict(zip(classifier.classes, [round(s, 4) for s in shares])),
                      "confident_0.9": round(confident, 4), "min_share": round(min(shares), 4), **fid,
                      "seconds": round(time.perf_counter() - started, 1)}))


if __name__ == "__main__":
    main()
