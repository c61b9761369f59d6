"""The `classifier` source: generate samples, a classifier flags the negatives.

Negatives: p(target) >= --threshold, the most confident --max-negatives of them.
Positives: p(target) < positive_max_prob (options.py), a strict rule: calibration showed that
ambiguous samples kept as positives keep the feature alive. Samples in between are dropped.
"""
from __future__ import annotations

import torch

from unlearn_cli.api import SampleSets, SourceContext, UnlearnError

from . import common
from .options import ClassifierSourceOptions as Options, default


def collect(context: SourceContext) -> SampleSets:
    classifier = context.classifier
    if classifier is None:
        raise UnlearnError("the classifier source needs a classifier: pass --classifier "
                           "(or use --source folder --neg DIR, or --source manual)")
    indices, names = common.resolve_targets(classifier, context.options.get("target"))
    index, name = indices, common.target_label(names)  # one or several targets
    threshold = common.prob_option(context, "threshold", default(Options, "threshold"))
    max_prob = min(common.prob_option(context, "positive_max_prob", default(Options, "positive_max_prob")),
                   threshold)
    candidates = common.int_option(context, "candidates", default(Options, "candidates"))
    max_negatives = common.int_option(context, "max_negatives", default(Options, "max_negatives"))
    seed = common.seed_of(context)

    tally = common.Tally(classifier, index)
    negatives, scores, positives, flagged = common.empty(context), torch.empty(0), [], 0
    for images in common.generate(context, candidates, seed, common.STREAM_CANDIDATES):
        target = tally.add(common.probs(classifier, images))
        hit = target >= threshold
        flagged += int(hit.sum())
        negatives, scores = _most_confident(torch.cat([negatives, images[hit]]),
                                            torch.cat([scores, target[hit]]), max_negatives)
        positives.append(common.compact_images(images[target < max_prob]))  # uint8 when large
    positives = torch.cat(positives)
    negatives = common.compact_images(negatives)

    stats = {"tried": tally.tried, "flagged": flagged, "negatives": int(negatives.shape[0]),
             "positives": int(positives.shape[0]), "ambiguous": tally.tried - flagged - int(positives.shape[0]),
             "class_counts": tally.class_counts(), "max_target_prob": tally.max_prob,
             "target": names[0] if len(names) == 1 else names, "threshold": threshold, "positive_max_prob": max_prob}
    if flagged == 0:
        raise UnlearnError(
            f"the classifier flagged none of {tally.tried} generated samples as '{name}' "
            f"(p >= {threshold}); it saw {tally.histogram()}; the highest p('{name}') was "
            f"{tally.max_prob:.3f}; try a lower --threshold or more --candidates"
        )
    if positives.shape[0] == 0:
        raise UnlearnError(
            f"none of {tally.tried} generated samples had p('{name}') < {max_prob}, so there are "
            f"no positives (it saw {tally.histogram()}); pass more --candidates or check --target"
        )
    if negatives.shape[0] < common.FEW_NEGATIVES:
        common.warn(stats, f"only {negatives.shape[0]} of {tally.tried} samples flagged as '{name}'; "
                           f"more --candidates or a lower --threshold would give more negatives")
    note = (f"{positives.shape[0]} of {tally.tried} generated samples with p('{name}') < {max_prob}; "
            f"{stats['ambiguous']} ambiguous ones were dropped")
    return common.finish(context, SampleSets(negatives, positives, note, stats))


def _most_confident(images: torch.Tensor, scores: torch.Tensor, k: int):
    """The ``k`` highest-scoring images, most confident first (ties keep generation order)."""
    order = torch.argsort(scores, descending=True, stable=True)[:k]
    return images[order], scores[order]
