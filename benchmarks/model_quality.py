"""Quality of a digits generator: class shares and classifier confidence over many samples.

    python benchmarks/model_quality.py [MODEL] [--samples 10000] [--classifier digits]

MODEL defaults to the bundled model. Prints a table and one JSON line. The bundled model's
targets (issue 5): every digit >= 4% of samples, >= 80% of samples classified with p >= 0.9.
"""
from __future__ import annotations

import argparse
import json
import time

import torch

from unlearn_cli.engine.models import generate, load_gan
from unlearn_cli.plugins import get_registry


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("model", nargs="?", default="bundled:digits")
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument("--classifier", default="digits")
    parser.add_argument("--seed", type=int, default=123)
    args = parser.parse_args()
    bundle = load_gan(args.model)
    classifier = get_registry().load("classifier", args.classifier)(None, "cpu")
    started = time.perf_counter()
    top, conf = [], []
    with torch.no_grad():
        for start in range(0, args.samples, 500):
            images = generate(bundle.G_ema, min(500, args.samples - start), args.seed + start, "cpu")
            p = classifier.probs(images)
            top.append(p.argmax(1))
            conf.append(p.max(1).values)
    top, conf = torch.cat(top), torch.cat(conf)
    shares = (torch.bincount(top, minlength=len(classifier.classes)).double() / len(top)).tolist()
    confident = float((conf >= 0.9).double().mean())
    print(f"model {args.model}  samples {len(top)}  classifier {args.classifier}")
    for name, share in zip(classifier.classes, shares):
        print(f"  digit {name}: {100 * share:5.1f}%")
    print(f"  confident (p >= 0.9): {100 * confident:.1f}%   min share {100 * min(shares):.1f}%")
    print(json.dumps({"model": args.model, "classifier": args.classifier, "samples": len(top),
                      "shares": dict(zip(classifier.classes, [round(s, 4) for s in shares])),
                      "confident_0.9": round(confident, 4), "min_share": round(min(shares), 4),
                      "seconds": round(time.perf_counter() - started, 1)}))


if __name__ == "__main__":
    main()
