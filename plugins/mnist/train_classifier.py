"""Train an MNIST classifier and write it as a gan-unlearn classifier file.

    python -m unlearn_cli_plugins.mnist.train_classifier --model mnist --seed 0 --out mnist_classifier.safetensors
    python -m unlearn_cli_plugins.mnist.train_classifier --model judge --seed 1 --out mnist_judge.safetensors

Trains on the MNIST train split (4500 digits, at 16 px: the bundled model's size) with augmentation, so that GAN samples,
which are never quite like the data, are still read well: a random affine warp (shift, scale,
rotation, shear), a random change of stroke thickness (a 3x3 grey dilation or erosion of some
images: the morpho task thins and thickens strokes, and the class must survive that), and
Gaussian pixel noise. Prints the accuracy on the 500 held-out digits and stores it in the file.
Deterministic for a given seed, torch version and thread count (``--threads``, default 2).
"""
from __future__ import annotations

import argparse
import math
import sys
import time

import torch
import torch.nn.functional as F

from unlearn_cli.api import build_classifier, save_classifier_file
from unlearn_cli_plugins.mnist.classifier import ARCHS
from unlearn_cli_plugins.mnist.data import CLASSES, split

# preset -> architecture, augmentation (shift px, scale, rotation deg, shear, thickness change
# probability, noise std) and schedule
PRESETS = {
    "mnist": dict(arch="vgg", config={"widths": [32, 64, 96], "hidden": 128, "dropout": 0.3},
                  shift=2.0, scale=0.1, rotate=10.0, shear=0.1, morph=0.25, noise=0.1, epochs=40, lr=2e-3),
    "judge": dict(arch="strided", config={"widths": [32, 64, 128], "dropout": 0.2},
                  shift=3.0, scale=0.15, rotate=15.0, shear=0.2, morph=0.4, noise=0.2, epochs=30, lr=3e-3),
}
RESOLUTION = 16  # the bundled MNIST GAN's size (docs/mnist.md says why not 32)


def augment(x: torch.Tensor, p: dict, gen: torch.Generator) -> torch.Tensor:
    """Random affine warp (background stays -1), random thickening/thinning, then noise."""
    n = x.shape[0]
    uniform = lambda: torch.rand(n, generator=gen) * 2 - 1  # noqa: E731 - in [-1, 1]
    angle, scale, shear = uniform() * math.radians(p["rotate"]), 1 + uniform() * p["scale"], uniform() * p["shear"]
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    linear = torch.stack([torch.stack([cos, -sin + shear], 1), torch.stack([sin, cos], 1)], 1)
    shift = torch.stack([uniform(), uniform()], 1) * p["shift"] * 2 / RESOLUTION
    grid = F.affine_grid(torch.cat([linear, shift.unsqueeze(2)], 2), list(x.shape), align_corners=False)
    x = F.grid_sample(x + 1, grid, mode="bilinear", padding_mode="zeros", align_corners=False) - 1
    which = torch.rand(n, generator=gen)
    thicker = F.max_pool2d(x, 3, stride=1, padding=1)
    thinner = -F.max_pool2d(-x, 3, stride=1, padding=1)
    x = torch.where((which < p["morph"] / 2).view(n, 1, 1, 1), thicker, x)
    x = torch.where(((which >= p["morph"] / 2) & (which < p["morph"])).view(n, 1, 1, 1), thinner, x)
    std = torch.rand(n, 1, 1, 1, generator=gen) * p["noise"]
    return (x + std * torch.randn(x.shape, generator=gen)).clamp(-1, 1)


@torch.no_grad()
def accuracy(model, images, labels) -> float:
    model.eval()
    return (model.logits(images).argmax(1) == labels).float().mean().item()


def train(preset: str, seed: int, epochs: int | None = None, batch_size: int = 64, log=print):
    p = PRESETS[preset]
    epochs = epochs or p["epochs"]
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    x_train, y_train = split("train", RESOLUTION, 1)
    x_held, y_held = split("heldout", RESOLUTION, 1)
    info = {"arch": p["arch"], "config": p["config"], "classes": CLASSES, "resolution": RESOLUTION, "channels": 1}
    model = build_classifier(info, ARCHS)
    opt = torch.optim.AdamW(model.parameters(), lr=p["lr"], weight_decay=1e-4)
    steps = epochs * math.ceil(len(x_train) / batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=p["lr"], total_steps=steps)
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(x_train), generator=gen)
        for i in range(0, len(order), batch_size):
            idx = order[i:i + batch_size]
            loss = F.cross_entropy(model.logits(augment(x_train[idx], p, gen)), y_train[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
        if (epoch + 1) % 4 == 0 or epoch + 1 == epochs:
            log(f"epoch {epoch + 1}/{epochs}  loss {loss.item():.4f}  held-out acc {accuracy(model, x_held, y_held):.4f}")
    info["heldout_accuracy"] = round(accuracy(model, x_held, y_held), 4)
    info["train"] = {"preset": preset, "seed": seed, "epochs": epochs, "batch_size": batch_size,
                     "augmentation": {k: p[k] for k in ("shift", "scale", "rotate", "shear", "morph", "noise")},
                     "torch": torch.__version__, "threads": torch.get_num_threads()}
    return model, info


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, help="the .safetensors file to write")
    ap.add_argument("--model", choices=sorted(PRESETS), default="mnist", help="which bundled model's recipe")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=None, help="override the preset's number of epochs")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)
    start = time.perf_counter()
    model, info = train(args.model, args.seed, args.epochs)
    seconds = time.perf_counter() - start
    info["train"]["seconds"] = round(seconds, 1)
    info["train"]["command"] = "python -m unlearn_cli_plugins.mnist.train_classifier " + " ".join(sys.argv[1:] if argv is None else argv)
    save_classifier_file(model, info, args.out)
    print(f"held-out accuracy {info['heldout_accuracy']:.4f} ({args.model}, seed {args.seed}, {seconds:.1f} s) -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
