"""Train a digits classifier and write it as a gan-unlearn classifier file.

    python -m unlearn_cli_plugins.digits.train_classifier --model digits --seed 0 --out digits_classifier.safetensors
    python -m unlearn_cli_plugins.digits.train_classifier --model judge  --seed 1 --out digits_judge.safetensors

Trains on the digits train split (1497 images, 16 px, greyscale) with light augmentation so that
GAN samples, which are never quite like the data, are still read well: a random affine warp
(shift, scale, rotation), Gaussian pixel noise and, for the CNN, a random slight blur. Prints the
accuracy on the 300 held-out images and stores it in the file. Deterministic for a given seed,
torch version and thread count (``--threads``, default 2).
"""
from __future__ import annotations

import argparse
import math
import sys
import time

import torch
import torch.nn.functional as F

from unlearn_cli_plugins.digits.classifier import build, save_file
from unlearn_cli_plugins.digits.data import CLASSES, split

# model preset -> architecture and augmentation (max shift in px, scale range, max rotation deg, max noise std, blur)
PRESETS = {
    "digits": dict(arch="cnn", config={"widths": [24, 48], "hidden": 96, "dropout": 0.3},
                   shift=1.5, scale=0.12, rotate=10.0, noise=0.15, blur=0.5, epochs=40, lr=2e-3),
    "judge": dict(arch="mlp", config={"hidden": [256, 128], "dropout": 0.2},
                  shift=2.0, scale=0.15, rotate=18.0, noise=0.2, blur=0.0, epochs=80, lr=1e-3),
}
RESOLUTION = 16


def augment(x: torch.Tensor, p: dict, gen: torch.Generator) -> torch.Tensor:
    """Random affine warp (background stays -1), optional blur, then Gaussian noise."""
    n = x.shape[0]
    u = lambda: torch.rand(n, generator=gen) * 2 - 1  # noqa: E731 - uniform in [-1, 1]
    angle = u() * math.radians(p["rotate"])
    scale = 1 + u() * p["scale"]
    shift = torch.stack([u(), u()], 1) * p["shift"] * 2 / RESOLUTION  # pixels -> [-1, 1] units
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin], 1), torch.stack([sin, cos], 1)], 1)
    theta = torch.cat([theta, shift.unsqueeze(2)], 2)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x + 1, grid, mode="bilinear", padding_mode="zeros", align_corners=False) - 1
    if p["blur"] > 0:  # blur half the batch a little: 3x3 kernel, centre weight 1, neighbours w
        w = torch.tensor([p["blur"], 1.0, p["blur"]])
        k = (w[:, None] * w[None, :] / w.sum() ** 2).view(1, 1, 3, 3)
        blurred = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), k)
        pick = (torch.rand(n, generator=gen) < 0.5).view(n, 1, 1, 1)
        x = torch.where(pick, blurred, x)
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
    model = build(info)
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
        if (epoch + 1) % 10 == 0 or epoch + 1 == epochs:
            log(f"epoch {epoch + 1}/{epochs}  loss {loss.item():.4f}  held-out acc {accuracy(model, x_held, y_held):.4f}")
    info["heldout_accuracy"] = round(accuracy(model, x_held, y_held), 4)
    info["train"] = {"preset": preset, "seed": seed, "epochs": epochs, "batch_size": batch_size,
                     "augmentation": {k: p[k] for k in ("shift", "scale", "rotate", "noise", "blur")},
                     "torch": torch.__version__, "threads": torch.get_num_threads()}
    return model, info


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, help="the .safetensors file to write")
    ap.add_argument("--model", choices=sorted(PRESETS), default="digits", help="which bundled model's recipe")
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
    info["train"]["command"] = "python -m unlearn_cli_plugins.digits.train_classifier " + " ".join(sys.argv[1:] if argv is None else argv)
    save_file(model, info, args.out)
    print(f"held-out accuracy {info['heldout_accuracy']:.4f} ({args.model}, seed {args.seed}, {seconds:.1f} s) -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
