"""Before/after evaluation on the same fixed latents: PUL, class shares, their shift, FIDs.

`run` (at its end) and `eval` (on two model files) both call :func:`evaluate_pair`, so the same
models, seed and sample count give the same numbers. See docs/evaluation.md for the definitions:

- PUL (the paper's) = 100 * (N_target(before) - N_target(after)) / N_target(before), a sample
  counting as target when the classifier's top class is the target; both generators see the
  SAME latents: ``latents(samples, z_dim, 10_000 + seed)``.
- non-target shift: total-variation distance between the class shares of the non-target classes
  (renormalised to sum to 1) before and after.
- FID against real images without the target (a dataset plugin or a folder), with the
  classifier's penultimate features ("classifier-feature FID", always when a reference is known)
  and, with ``inception_weights``, Inception-v3 pool features through torch-fidelity
  ("Inception FID"). Each FID carries its kind in the output: the two are not comparable.
- Ret-FID (optional): FID between the unlearned model's samples and those of a model retrained
  without the feature, on generated samples only.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from unlearn_cli.config import RunConfig
from unlearn_cli.engine.models import latents
from unlearn_cli.errors import UnlearnError
from unlearn_cli.metrics.fid import frechet_distance

EVAL_SEED_OFFSET = 10_000
CLASSIFIER_FID = "classifier-feature FID"
INCEPTION_FID = "Inception FID"


def eval_seed(config: RunConfig) -> int:
    """The seed of the evaluation latents (kept apart from the seeds training uses)."""
    return EVAL_SEED_OFFSET + config.seed


def eval_latents(G, n: int, seed: int) -> torch.Tensor:
    """The fixed latents every evaluated generator sees (seeded on the CPU: any device agrees)."""
    return latents(n, G.z_dim, seed)


def target_index(classifier, target: str) -> int:
    classes = list(classifier.classes)
    if target in classes:
        return classes.index(target)
    if target.isdigit() and int(target) < len(classes):
        return int(target)
    raise UnlearnError(f"unknown target '{target}'; the classifier knows: {', '.join(classes)}")


@torch.no_grad()
def generate_on(G, z: torch.Tensor, device, batch: int | None = None):
    """Images of G for the latents z, batch by batch (constant noise, no truncation).

    A batch holds what fits in the working set (engine/memory.py), at most 250 images.
    """
    G.eval()
    if batch is None:
        from unlearn_cli.engine.memory import generation_batch
        batch = generation_batch(G, device, cap=250)
    for start in range(0, len(z), batch):
        yield G(z[start:start + batch].to(device), truncation_psi=1.0, noise_mode="const")


CONFIDENCE_LEVELS = (0.5, 0.9)  # the target counted at these confidences too (ambiguous samples shown)


@dataclass
class Scores:
    labels: torch.Tensor  # top class per sample
    features: torch.Tensor  # classifier penultimate features
    inception: torch.Tensor | None = None  # Inception pool features, when asked for
    target_prob: torch.Tensor | None = None  # highest probability of any target, per sample
    class_labels: torch.Tensor | None = None  # top class by the classifier's class_classifier
    measures: dict[str, torch.Tensor] | None = None  # the classifier's measure(), if it has one


@torch.no_grad()
def score(G, z: torch.Tensor, classifier, device, inception: Callable | None = None,
          targets: list[int] | None = None) -> Scores:
    """Top classes, features (and the optional extras above) of G's samples on the latents z."""
    labels, features, pool, target_prob, class_labels, measures = [], [], [], [], [], []
    class_classifier = getattr(classifier, "class_classifier", None)
    measure = getattr(classifier, "measure", None)
    for images in generate_on(G, z, device):
        probs = classifier.probs(images)
        labels.append(probs.argmax(1).cpu())
        if targets:
            target_prob.append(probs[:, targets].amax(1).float().cpu())
        features.append(classifier.features(images).float().cpu())
        if class_classifier is not None:
            class_labels.append(class_classifier.probs(images).argmax(1).cpu())
        if measure is not None:
            measures.append({k: v.float().cpu() for k, v in measure(images).items()})
        if inception is not None:
            pool.append(inception(images))
    return Scores(torch.cat(labels), torch.cat(features), torch.cat(pool) if pool else None,
                  torch.cat(target_prob) if target_prob else None,
                  torch.cat(class_labels) if class_labels else None,
                  {k: torch.cat([m[k] for m in measures]) for k in measures[0]} if measures else None)


def reference_images(reference: str, target: str | list[str], resolution: int, channels: int,
                     classifier=None) -> torch.Tensor:
    """Real images without the target(s): a dataset plugin (target classes dropped) or a folder.

    A target that is no class of the dataset (an attribute such as morpho's 'thick') is dropped
    by the run's classifier instead: real images it calls a target are left out."""
    if Path(reference).is_dir():
        from unlearn_cli.io.images import read_image_folder

        return read_image_folder(reference, resolution, channels, what="reference folder")
    from unlearn_cli.plugins import get_registry

    registry = get_registry()
    try:
        spec = registry.find("dataset", reference)
    except UnlearnError as exc:
        raise UnlearnError(f"reference '{reference}' is neither a folder nor a dataset plugin "
                           f"({exc})") from None
    classes = [str(c) for c in spec.options.get("classes") or []]
    images, labels = registry.load("dataset", reference)(resolution=resolution, channels=channels)
    names = [target] if isinstance(target, str) else list(target)
    dropped = [classes.index(t) for t in names if t in classes]
    if labels is not None and dropped:
        images = images[~_is_target(torch.as_tensor(labels), dropped)]
    elif classifier is not None and not dropped and all(t in classifier.classes for t in names):
        top = batched(lambda x: classifier.probs(x).argmax(1), images)
        images = images[~_is_target(top.long(), [classifier.classes.index(t) for t in names])]
    return images


@torch.no_grad()
def batched(fn: Callable, images: torch.Tensor, batch: int = 250) -> torch.Tensor:
    return torch.cat([fn(images[i:i + batch]).float().cpu() for i in range(0, len(images), batch)])


def default_reference(config: RunConfig) -> str | None:
    """--reference, or the bundled model's own dataset (bundled:mnist -> mnist)."""
    from unlearn_cli.engine.models import bundled_name
    return config.reference or bundled_name(config.ckpt)


def target_indices(classifier, targets: list[str]) -> list[int]:
    return [target_index(classifier, str(t)) for t in targets]


def _is_target(labels: torch.Tensor, targets: list[int]) -> torch.Tensor:
    return torch.isin(labels, torch.as_tensor(targets, dtype=labels.dtype))


def _count(labels: torch.Tensor, targets: list[int]) -> int:
    return int(_is_target(labels, targets).sum())


def _pul(n_before: int, n_after: int) -> float | None:
    return round(100.0 * (n_before - n_after) / n_before, 2) if n_before else None


def shares(labels: torch.Tensor, k: int) -> list[float]:
    return (torch.bincount(labels, minlength=k).double() / max(len(labels), 1)).tolist()


def nontarget_tv(s_before: list[float], s_after: list[float], target: int | list[int]) -> float:
    """TV distance of the non-target class shares, each renormalised to sum to 1."""
    targets = [target] if isinstance(target, int) else target
    rest = [i for i in range(len(s_before)) if i not in targets]
    nb = torch.tensor([s_before[i] for i in rest], dtype=torch.float64)
    na = torch.tensor([s_after[i] for i in rest], dtype=torch.float64)
    return 0.5 * float((nb / nb.sum().clamp_min(1e-12) - na / na.sum().clamp_min(1e-12)).abs().sum())


MEASURE_BINS = 24


def measure_summary(before: torch.Tensor, after: torch.Tensor) -> dict:
    """Mean, spread and a shared-edges histogram of one measurement, before and after."""
    both = torch.cat([before, after])
    lo, hi = float(both.quantile(0.005)), float(both.quantile(0.995))
    hi = hi if hi > lo else lo + 1.0
    edges = torch.linspace(lo, hi, MEASURE_BINS + 1)

    def one(values: torch.Tensor) -> dict:
        counts = torch.histc(values.clamp(lo, hi), bins=MEASURE_BINS, min=lo, max=hi)
        return {"mean": round(float(values.mean()), 4), "std": round(float(values.std()), 4),
                "histogram": [int(c) for c in counts.tolist()]}

    return {"edges": [round(e, 4) for e in edges.tolist()], "before": one(before), "after": one(after)}


def _fid(a: torch.Tensor, b: torch.Tensor) -> float | None:
    return round(frechet_distance(a, b), 3) if len(a) >= 2 and len(b) >= 2 else None


def _ratio(after: float | None, before: float | None) -> float | None:
    if after is None or before is None:
        return None
    return round(after / max(before, 1e-9), 3)


def evaluate_pair(G_before, G_after, classifier, config: RunConfig, device, *,
                  inception_weights: str | None = None, G_retrained=None) -> dict:
    """PUL, class shares, non-target shift and FIDs of G_after against G_before (see top)."""
    if G_before.z_dim != G_after.z_dim:
        raise UnlearnError(f"the two models have different latent sizes ({G_before.z_dim} vs "
                           f"{G_after.z_dim}); they cannot be compared on the same latents")
    targets = target_indices(classifier, config.targets)
    names = [str(classifier.classes[t]) for t in targets]
    k, n, seed = len(classifier.classes), config.eval_samples, eval_seed(config)
    inception = None
    if inception_weights:
        from unlearn_cli.metrics.inception import load_inception

        inception = load_inception(inception_weights, device)
    z = eval_latents(G_before, n, seed)
    before = score(G_before, z, classifier, device, inception, targets)
    after = score(G_after, z, classifier, device, inception, targets)
    n_before, n_after = _count(before.labels, targets), _count(after.labels, targets)
    s_before, s_after = shares(before.labels, k), shares(after.labels, k)
    class_classifier = getattr(classifier, "class_classifier", None)
    if class_classifier is None:
        tv = nontarget_tv(s_before, s_after, targets)
    else:  # an attribute target: the classes (digits) are other things, and all must stay
        kept = len(class_classifier.classes)
        c_before, c_after = shares(before.class_labels, kept), shares(after.class_labels, kept)
        tv = nontarget_tv(c_before, c_after, [])
    result = {
        "samples": n, "seed": seed, "target": ", ".join(names), "targets": names,
        "latents": f"{n} latents of size {G_before.z_dim} from seed {seed}, the same for both models",
        "target_count_before": n_before, "target_count_after": n_after,
        "pul": _pul(n_before, n_after),
        "class_share_before": dict(zip(classifier.classes, [round(s, 4) for s in s_before])),
        "class_share_after": dict(zip(classifier.classes, [round(s, 4) for s in s_after])),
        "nontarget_tv_distance": round(tv, 4),
        "target_count_at_confidence": {
            f"p>={level}": {"before": int((before.target_prob >= level).sum()),
                            "after": int((after.target_prob >= level).sum())}
            for level in CONFIDENCE_LEVELS},
    }
    if class_classifier is not None:
        result["kept_classes_by"] = getattr(classifier, "class_classifier_name", None) or type(class_classifier).__name__
        result["kept_class_share_before"] = dict(zip(class_classifier.classes, [round(v, 4) for v in c_before]))
        result["kept_class_share_after"] = dict(zip(class_classifier.classes, [round(v, 4) for v in c_after]))
    if before.measures is not None:
        result["measures"] = {name: measure_summary(before.measures[name], after.measures[name])
                              for name in before.measures}
    if len(targets) > 1:  # each target's own count and PUL beside the total
        result["per_target"] = {
            name: {"target_count_before": _count(before.labels, [t]),
                   "target_count_after": _count(after.labels, [t]),
                   "pul": _pul(_count(before.labels, [t]), _count(after.labels, [t]))}
            for t, name in zip(targets, names)}
    reference = default_reference(config)
    if reference:
        result.update(_reference_fids(reference, targets, classifier, inception, before, after,
                                      G_before.img_resolution, G_before.img_channels))
    if G_retrained is not None:
        result.update(_ret_fids(G_retrained, z, classifier, device, inception, before, after))
    return result


def _reference_fids(reference: str, targets: list[int], classifier, inception, before: Scores,
                    after: Scores, resolution: int, channels: int) -> dict:
    names = [str(classifier.classes[t]) for t in targets]
    real = reference_images(reference, names, resolution, channels, classifier)
    real_features = batched(classifier.features, real)
    without = "' or '".join(names)
    name = f"'{reference}'" + ("" if Path(reference).is_dir() else
                               f" without class{'es' if len(names) > 1 else ''} '{without}'")
    out = {
        "fid_reference": name, "fid_reference_images": len(real),
        "fid_kind": f"{CLASSIFIER_FID} vs real non-target images",
        "fid_before": _fid(before.features, real_features),
        "fid_after": _fid(after.features, real_features),
        "fid_before_nontarget_samples": _fid(before.features[~_is_target(before.labels, targets)], real_features),
    }
    out["fid_ratio"] = _ratio(out["fid_after"], out["fid_before"])
    if inception is not None:
        real_pool = batched(inception, real, 50)
        out.update({
            "inception_fid_kind": f"{INCEPTION_FID} (torch-fidelity, pool3 features) vs real non-target images",
            "inception_fid_before": _fid(before.inception, real_pool),
            "inception_fid_after": _fid(after.inception, real_pool),
        })
        out["inception_fid_ratio"] = _ratio(out["inception_fid_after"], out["inception_fid_before"])
    return out


def _ret_fids(G_retrained, z: torch.Tensor, classifier, device, inception, before: Scores,
              after: Scores) -> dict:
    if G_retrained.z_dim != z.shape[1]:
        raise UnlearnError(f"the retrained model's latent size ({G_retrained.z_dim}) differs from "
                           f"the evaluated models' ({z.shape[1]})")
    retrained = score(G_retrained, z, classifier, device, inception)
    out = {
        "ret_fid_kind": f"{CLASSIFIER_FID} vs samples of the retrained model (Ret-FID)",
        "ret_fid_before": _fid(before.features, retrained.features),
        "ret_fid": _fid(after.features, retrained.features),
    }
    if inception is not None:
        out.update({
            "inception_ret_fid_kind": f"{INCEPTION_FID} vs samples of the retrained model (Ret-FID)",
            "inception_ret_fid_before": _fid(before.inception, retrained.inception),
            "inception_ret_fid": _fid(after.inception, retrained.inception),
        })
    return out
