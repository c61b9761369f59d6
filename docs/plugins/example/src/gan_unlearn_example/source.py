"""The `augmented` source: a handful of negative images, multiplied by random shifts and contrast.

Adaptation works better with more than a few negatives; when you only have three pictures of what
must go, small label-preserving changes make more. No flips: a flipped digit is another symbol.
Reads the run's neg and seed, and its own options (options.py): max_negatives, candidates.
"""
import torch
import torch.nn.functional as F

from unlearn_cli.api import SampleSets, SourceContext, UnlearnError, options_of, read_images

from gan_unlearn_example.options import AugmentedOptions


def augment(image: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Shift by up to 1/8 of the size (edges repeated) and scale the contrast by 0.8 to 1.2."""
    channels, height, width = image.shape
    pad = max(1, height // 8)
    padded = F.pad(image[None], (pad, pad, pad, pad), mode="replicate")[0]
    dy, dx = torch.randint(0, 2 * pad + 1, (2,), generator=gen).tolist()
    shifted = padded[:, dy:dy + height, dx:dx + width]
    contrast = 0.8 + 0.4 * torch.rand((), generator=gen)
    mean = shifted.mean()
    return (mean + (shifted - mean) * contrast).clamp(-1, 1)


def collect(context: SourceContext) -> SampleSets:
    folder = context.options.get("neg")
    if not folder:
        raise UnlearnError("the augmented source needs --neg DIR, a folder of images of what to forget")
    originals = read_images(folder, context.resolution, context.channels, what="--neg folder")
    options = options_of(context, AugmentedOptions)  # typed, with the model's defaults
    wanted = max(options.max_negatives, len(originals))
    seed = int(context.options.get("seed") or 0)
    gen = torch.Generator().manual_seed(seed)
    extra = [augment(originals[i % len(originals)], gen) for i in range(wanted - len(originals))]
    negatives = torch.cat([originals, torch.stack(extra)]) if extra else originals
    candidates = options.candidates
    positives = context.generate(candidates, seed)
    note = f"{candidates} generated samples, unfiltered"
    stats = {"folder": str(folder), "originals": len(originals), "augmented": len(extra)}
    return SampleSets(negatives, positives, note, stats)
