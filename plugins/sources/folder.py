"""The `folder` source: negatives are images on disk; positives are generated samples."""
from __future__ import annotations

from unlearn_cli.api import SampleSets, SourceContext, UnlearnError, read_images

from . import common
from .options import FolderOptions as Options, default


def collect(context: SourceContext) -> SampleSets:
    folder = context.options.get("neg")
    if not folder:
        raise UnlearnError("the folder source needs --neg DIR, a folder of images of what to forget")
    candidates = common.int_option(context, "candidates", default(Options, "candidates"))
    seed = common.seed_of(context)
    negatives = read_images(folder, context.resolution, context.channels, min_count=1,
                            what="--neg folder")
    stats = {"folder": str(folder), "negatives": int(negatives.shape[0]), "tried": candidates}
    if negatives.shape[0] < common.FEW_NEGATIVES:
        common.warn(stats, f"only {negatives.shape[0]} negative image(s) in '{folder}'; "
                           f"adaptation works better with {common.FEW_NEGATIVES} or more")

    classifier, target = context.classifier, context.options.get("target")
    if classifier is not None and target is not None and str(target).strip() != "":
        indices, names = common.resolve_targets(classifier, target)
        index, name = indices, common.target_label(names)  # one or several targets
        threshold = common.prob_option(context, "threshold", default(Options, "threshold"))
        seen = common.Tally(classifier, index)
        flagged = sum(int((seen.add(common.probs(classifier, chunk)) >= threshold).sum())
                      for chunk in negatives.split(common.CHUNK))
        stats.update(negatives_flagged=flagged, target=names[0] if len(names) == 1 else names)
        if flagged:
            return _filtered(context, negatives, stats, index, name, threshold, candidates, seed)
        common.warn(stats, f"the classifier sees none of the {negatives.shape[0]} negatives as "
                           f"'{name}' (p >= {threshold}; it saw {seen.histogram()}), so it is not used "
                           f"to filter positives; check --target and --classifier")
    positives = common.generate_all(context, candidates, seed, common.STREAM_POSITIVES)
    note = (f"{candidates} generated samples, unfiltered: they still contain the undesired "
            f"feature at the generator's base rate")
    return common.finish(context, SampleSets(negatives, positives, note, stats))


def _filtered(context, negatives, stats, index, name, threshold, candidates, seed) -> SampleSets:
    """Positives: generated samples the classifier rates p(target) < positive_max_prob."""
    max_prob = min(common.prob_option(context, "positive_max_prob", default(Options, "positive_max_prob")),
                   threshold)
    positives, tally = common.filtered_positives(context, candidates, seed, common.STREAM_POSITIVES,
                                                 index, max_prob)
    stats.update(class_counts=tally.class_counts(), max_target_prob=tally.max_prob,
                 positive_max_prob=max_prob)
    if positives.shape[0] == 0:
        raise UnlearnError(
            f"none of {candidates} generated samples had p('{name}') < {max_prob} (it saw "
            f"{tally.histogram()}), so there are no positives; pass more --candidates or check --target"
        )
    note = (f"{positives.shape[0]} of {candidates} generated samples that the classifier rates "
            f"p('{name}') < {max_prob}")
    return common.finish(context, SampleSets(negatives, positives, note, stats))
