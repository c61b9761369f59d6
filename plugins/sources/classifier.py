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
    negatives, scores, positives, flagged, top = common.empty(context), torch.empty(0), [], 0, []
    balanced = bool(context.options.get("balance_positives", default(Options, "balance_positives")))
    # an attribute classifier (morpho) names the classes the model must keep: balance by those,
    # over all candidates (a thick 8 is to become a thin 8, not to go)
    classes_of = getattr(classifier, "class_classifier", None)
    class_counts = None
    for images in common.generate(context, candidates, seed, common.STREAM_CANDIDATES):
        p = common.probs(classifier, images)
        target = tally.add(p)
        hit = target >= threshold
        flagged += int(hit.sum())
        negatives, scores = _most_confident(torch.cat([negatives, images[hit]]),
                                            torch.cat([scores, target[hit]]), max_negatives)
        keep = target < max_prob
        positives.append(common.compact_images(images[keep]))  # uint8 when large
        if balanced:
            label = (p if classes_of is None else common.probs(classes_of, images)).argmax(dim=1).cpu()
            if classes_of is not None:  # (for the classifier's own classes the tally counts them)
                counts = torch.bincount(label, minlength=len(classes_of.classes))
                class_counts = counts if class_counts is None else class_counts + counts
            top.append(label[keep.cpu()])
    positives = torch.cat(positives)
    if balanced and positives.shape[0]:
        positives = _balanced(positives, torch.cat(top), tally.counts if classes_of is None else class_counts,
                              indices if classes_of is None else [], seed)
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
    note = (f"{stats['positives']} of {tally.tried} generated samples with p('{name}') < {max_prob}; "
            f"{stats['ambiguous']} ambiguous ones were dropped"
            + ("; redrawn to the candidates' class shares" if balanced else ""))
    return common.finish(context, SampleSets(negatives, positives, note, stats))


def _balanced(positives: torch.Tensor, top: torch.Tensor, counts: torch.Tensor, targets: list[int],
              seed: int) -> torch.Tensor:
    """The positives redrawn so that their classes (the classifier's top class, or its class
    classifier's for an attribute) have the shares the non-target classes have among all candidates.

    The strict positive rule drops the samples that look a little like the target, and those are
    mostly of a few classes (a 5 or a 3 near an 8): fine-tuned on what is left, the model shifts
    its proportions toward the other classes. Redrawing (with repetition where a class has too
    few) restores the model's own proportions, so the non-target shift measures forgetting only."""
    gen = torch.Generator().manual_seed(seed + 7919)
    share = counts.double().clone()
    if targets:
        share[targets] = 0
    present = torch.bincount(top, minlength=len(counts)) > 0
    share = share * present
    if share.sum() == 0:
        return positives
    n = positives.shape[0]
    wanted = torch.round(share / share.sum() * n).long()
    picks = []
    for c in torch.nonzero(wanted).flatten().tolist():
        members = torch.nonzero(top == c).flatten()
        order = members[torch.randperm(len(members), generator=gen)]
        extra = members[torch.randint(len(members), (max(0, int(wanted[c]) - len(members)),), generator=gen)]
        picks.append(torch.cat([order[:int(wanted[c])], extra]))
    return positives[torch.cat(picks)]


def _most_confident(images: torch.Tensor, scores: torch.Tensor, k: int):
    """The ``k`` highest-scoring images, most confident first (ties keep generation order)."""
    order = torch.argsort(scores, descending=True, stable=True)[:k]
    return images[order], scores[order]
