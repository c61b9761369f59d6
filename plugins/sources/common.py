"""What the three sources share: options, chunked generation, classifier scoring, saved grids."""
from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from unlearn_cli.api import SampleSets, SourceContext, UnlearnError, compact_images, images_as_float

CHUNK = 256              # samples generated (and classified) at a time, to keep memory flat
CHUNK_ELEMENTS = 1 << 26  # ... and at most this many values (256 MB of float32) per chunk
FEW_NEGATIVES = 4        # fewer negatives than this gives a warning
GRID_MAX = 64            # samples shown in a saved grid
GRID_CELL = 256          # larger samples are shrunk to this in saved grids

# independent random streams, so no two uses of one seed share latents
STREAM_CANDIDATES, STREAM_POSITIVES, STREAM_GRID, STREAM_EXTRA = 1, 2, 3, 4


# --------------------------------------------------------------------------- options
def _flag(key: str) -> str:
    return "--" + key.replace("_", "-")


def int_option(context: SourceContext, key: str, default: int, minimum: int = 1) -> int:
    value = context.options.get(key, default)
    if value is None:
        value = default
    try:
        number = int(value)
        ok = number == value or str(number) == str(value).strip()
    except (TypeError, ValueError, OverflowError):
        ok = False
    if not ok or number < minimum:
        raise UnlearnError(f"{_flag(key)} must be a whole number >= {minimum}, got {value!r}")
    return number


def prob_option(context: SourceContext, key: str, default: float) -> float:
    value = context.options.get(key, default)
    if value is None:
        value = default
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not 0.0 < number <= 1.0:
        raise UnlearnError(f"{_flag(key)} must be a probability in (0, 1], got {value!r}")
    return number


def seed_of(context: SourceContext) -> int:
    return int_option(context, "seed", 0, minimum=0)


def stream_seed(seed: int, stream: int, chunk: int) -> int:
    """A seed for chunk ``chunk`` of random stream ``stream``: distinct, stable, < 2**31."""
    state = np.random.SeedSequence([seed, stream, chunk]).generate_state(1, dtype=np.uint32)[0]
    return int(state) & 0x7FFFFFFF


# --------------------------------------------------------------------------- generation
def generate(context: SourceContext, n: int, seed: int, stream: int) -> Iterator[torch.Tensor]:
    """``n`` generated samples in chunks (see chunk_size), as float32 CPU tensors."""
    size = chunk_size(context)
    for chunk, start in enumerate(range(0, n, size)):
        count = min(size, n - start)
        with torch.no_grad():
            images = context.generate(count, stream_seed(seed, stream, chunk))
        yield images.detach().to("cpu", torch.float32)


def chunk_size(context: SourceContext) -> int:
    """CHUNK samples, fewer for large images (21 at 1024 x 1024 RGB)."""
    per_image = max(1, context.channels * context.resolution * context.resolution)
    return max(1, min(CHUNK, CHUNK_ELEMENTS // per_image))


def generate_all(context: SourceContext, n: int, seed: int, stream: int) -> torch.Tensor:
    """``n`` generated samples, kept compact (uint8 for large images: 2000 at 256 px RGB are
    393 MB instead of 1.5 GB); small images stay float32, exactly as generated."""
    if n <= 0:
        return empty(context)
    return torch.cat([compact_images(images) for images in generate(context, n, seed, stream)])


def empty(context: SourceContext) -> torch.Tensor:
    return torch.empty(0, context.channels, context.resolution, context.resolution)


# --------------------------------------------------------------------------- classifier
def resolve_target(classifier, target) -> tuple[int, str]:
    """The class index and name ``--target`` means: a class name, else an index."""
    classes = [str(c) for c in classifier.classes]
    text = "" if target is None else str(target).strip()
    if text in classes:
        return classes.index(text), text
    if text.isdigit() and int(text) < len(classes):
        return int(text), classes[int(text)]
    shown = ", ".join(classes[:20]) + (f", ... ({len(classes)} in all)" if len(classes) > 20 else "")
    what = f"--target '{text}' is not" if text else "--target is not set: it must be"
    raise UnlearnError(f"{what} a class of the classifier; use a name or index of: {shown}")


def probs(classifier, images: torch.Tensor) -> torch.Tensor:
    """Class probabilities [N, K] on the CPU, checked for shape."""
    with torch.no_grad():
        p = classifier.probs(images)
    p = torch.as_tensor(p).detach().to("cpu", torch.float32)
    expected = (images.shape[0], len(classifier.classes))
    if tuple(p.shape) != expected:
        raise UnlearnError(f"the classifier returned probabilities shaped {list(p.shape)} "
                           f"for {expected[0]} images and {expected[1]} classes")
    return p


def resolve_targets(classifier, target) -> tuple[list[int], list[str]]:
    """The class indices and names of ``--target``: one, or several (a list)."""
    values = target if isinstance(target, (list, tuple)) else [target]
    found = [resolve_target(classifier, value) for value in values]
    return [index for index, _ in found], [name for _, name in found]


def target_label(names: list[str]) -> str:
    """'8', or '3' + '8' for several: how messages name the targets."""
    return "' or '".join(names)


class Tally:
    """What the classifier saw: argmax histogram, highest p(target), counts."""

    def __init__(self, classifier, index: int | list[int]):
        self.classes = [str(c) for c in classifier.classes]
        self.index = [index] if isinstance(index, int) else list(index)
        self.counts = torch.zeros(len(self.classes), dtype=torch.long)
        self.tried = 0
        self.max_prob = 0.0

    def add(self, p: torch.Tensor) -> torch.Tensor:
        """Record a chunk's probabilities; returns p(target) for it."""
        self.tried += p.shape[0]
        self.counts += torch.bincount(p.argmax(dim=1), minlength=len(self.classes))
        # several targets: a sample's p(target) is its highest over them (it shows any of them)
        target = torch.nan_to_num(p[:, self.index].amax(dim=1), nan=0.0)
        if target.numel():
            self.max_prob = max(self.max_prob, float(target.max()))
        return target

    def class_counts(self) -> dict[str, int]:
        order = torch.argsort(self.counts, descending=True, stable=True).tolist()
        return {self.classes[i]: int(self.counts[i]) for i in order if self.counts[i] > 0}

    def histogram(self, limit: int = 10) -> str:
        items = list(self.class_counts().items())
        text = ", ".join(f"{name}: {count}" for name, count in items[:limit])
        return text + (f", {len(items) - limit} more classes" if len(items) > limit else "")


def filtered_positives(context: SourceContext, n: int, seed: int, stream: int,
                       index: int, max_prob: float) -> tuple[torch.Tensor, Tally]:
    """Generate ``n`` samples and keep those with p(target) < max_prob (kept compact)."""
    tally = Tally(context.classifier, index)
    kept = []
    for images in generate(context, n, seed, stream):
        target = tally.add(probs(context.classifier, images))
        kept.append(compact_images(images[target < max_prob]))
    return (torch.cat(kept) if kept else empty(context)), tally


# --------------------------------------------------------------------------- output
def preview(images: torch.Tensor) -> torch.Tensor:
    """Images for a grid: shrunk (area average) to at most GRID_CELL pixels a side."""
    side = max(images.shape[-2:])
    if side <= GRID_CELL:
        return images
    size = [max(1, round(d * GRID_CELL / side)) for d in images.shape[-2:]]
    return torch.nn.functional.interpolate(images, size=size, mode="area")



def info(message: str) -> None:
    sys.stderr.write(f"{message}\n")
    sys.stderr.flush()


def warn(stats: dict, message: str) -> None:
    """A one-line warning: shown now and kept in the stats (and so in the report)."""
    stats.setdefault("warnings", []).append(message)
    info(f"warning: {message}")


def finish(context: SourceContext, sets: SampleSets) -> SampleSets:
    """Save both sets as grids in the run folder (first GRID_MAX of each) and return the sets."""
    from unlearn_cli.api import save_grid

    sets.stats.setdefault("negatives", int(sets.negatives.shape[0]))
    sets.stats.setdefault("positives", int(sets.positives.shape[0]))
    if context.out_dir is None:
        return sets
    files = {}
    for name, images in (("negatives", sets.negatives), ("positives", sets.positives)):
        if images.shape[0]:
            path = save_grid(preview(images_as_float(images[:GRID_MAX])), Path(context.out_dir) / f"{name}.png")
            files[name] = str(path)
    sets.stats["grids"] = files
    return sets
