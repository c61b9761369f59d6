"""Fakes for the source tests: a generator whose samples carry their class, and a classifier
that reads it back.

Each fake sample has a class k and a confidence c. Pixel [0, 0] stores k / 100 and pixel [0, 1]
stores c; the fake classifier gives p(k) = c and spreads 1 - c evenly over the other classes.
"""
from __future__ import annotations

import torch

CONFIDENCES = torch.tensor([0.5, 0.97, 0.999])


class FakeGenerator:
    def __init__(self, resolution=8, channels=1, weights=None):
        self.resolution, self.channels = resolution, channels
        self.weights = torch.ones(10) if weights is None else torch.as_tensor(weights, dtype=torch.float)
        self.calls = []

    def __call__(self, n, seed):
        self.calls.append((n, seed))
        g = torch.Generator().manual_seed(seed)
        labels = torch.multinomial(self.weights, n, replacement=True, generator=g)
        conf = CONFIDENCES[torch.randint(0, len(CONFIDENCES), (n,), generator=g)]
        images = torch.rand(n, self.channels, self.resolution, self.resolution, generator=g) * 2 - 1
        images[:, :, 0, 0] = labels[:, None].float() / 100
        images[:, :, 0, 1] = conf[:, None]
        return images


class FakeClassifier:
    def __init__(self, classes=None):
        self.classes = classes or [str(i) for i in range(10)]
        self.calls = 0

    def probs(self, images):
        self.calls += 1
        k = len(self.classes)
        labels = (images[:, 0, 0, 0] * 100).round().long().clamp(0, k - 1)
        conf = images[:, 0, 0, 1].clamp(0, 1)
        p = ((1 - conf) / (k - 1))[:, None].repeat(1, k)
        p[torch.arange(len(images)), labels] = conf
        return p


def labels_of(images):
    return (images[:, 0, 0, 0] * 100).round().long()


def target_prob(images, target=8):
    return FakeClassifier().probs(images)[:, target]
