"""`gan-unlearn eval` on two model files: settings, loading, then the same measurement as `run`.

The measuring itself is unlearn_cli.metrics.evaluate (evaluate_pair), which imports nothing
from the engine's pipeline: imports run engine -> metrics, and the classifier is loaded once
(here, or by the run) and passed in.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from unlearn_cli.config import RunConfig
from unlearn_cli.errors import UnlearnError
from unlearn_cli.io.modelfile import read_header
from unlearn_cli.metrics.evaluate import evaluate_pair
from unlearn_cli.plugins import get_registry


def recorded_settings(before: str, after: str, given: dict) -> dict:
    """`eval`'s settings: each flag given wins, then what --after's run recorded in its file
    (so eval repeats the run's own evaluation), then the bundled model's defaults."""
    from unlearn_cli.engine.models import (bundled_defaults, bundled_name, existing_checkpoint,
                                           is_model_file)

    existing_checkpoint(before)  # a missing file is the first thing to say
    path = existing_checkpoint(after)
    recorded: dict = {}
    if path.is_file():
        try:
            if is_model_file(path):
                recorded = read_header(path).params or {}
        except UnlearnError:
            recorded = {}  # a damaged file: load_gan reports it properly below
    if recorded.get("classifier_path") is None:  # runs record it among the classifier's options
        recorded["classifier_path"] = (recorded.get("classifier_options") or {}).get("path")
    settings = {k: v if v is not None else recorded.get(k) for k, v in given.items()}
    if given["classifier"] is not None:  # a classifier named here comes with its own file or none
        settings["classifier_path"] = given["classifier_path"]
    if settings["classifier"] is None:
        settings["classifier"] = bundled_defaults(RunConfig(ckpt=before)).classifier
    if settings["reference"] is None:  # a run on bundled:NAME is measured against dataset NAME
        settings["reference"] = bundled_name(str(recorded.get("ckpt") or ""))
    if settings["classifier"] is None:
        raise UnlearnError("eval needs a classifier to count the target: pass --classifier NAME "
                           "(list-plugins shows them) and --target")
    if settings["target"] is None:
        if bundled_name(before) is None:
            raise UnlearnError("eval needs --target: the class or attribute that was forgotten")
        settings["target"] = RunConfig().target
    defaults = RunConfig()
    for key in ("eval_samples", "seed"):
        if settings[key] is None:
            settings[key] = getattr(defaults, key)
    return settings



@dataclass
class EvalModels:
    """What `gan-unlearn eval` loaded: three bundles (retrained optional) and the classifier."""

    before: object
    after: object
    retrained: object | None
    classifier: object

    def describe(self) -> dict:
        roles = {"before": self.before, "after": self.after, "retrained": self.retrained}
        return {role: {"file": b.path, "sha256": b.sha256, "gan": b.gan}
                for role, b in roles.items() if b is not None}


def load_eval_models(before: str, after: str, config: RunConfig, device, *, gan: str | None = None,
                     retrained: str | None = None, inception_weights: str | None = None) -> EvalModels:
    """Check the cheap things first (classifier name, files), then load models and classifier."""
    from unlearn_cli.engine.models import load_gan
    from unlearn_cli.engine.pipeline import load_classifier

    get_registry().find("classifier", config.classifier)  # a typo fails before any loading
    for flag, path in (("--inception-weights", inception_weights), ("--retrained", retrained)):
        if path and not Path(path).is_file():
            raise UnlearnError(f"{flag} file not found: {path}")
    if config.eval_samples < 2:
        raise UnlearnError("--samples must be at least 2")
    loaded = [load_gan(path, gan, str(device)) if path else None for path in (before, after, retrained)]
    G = loaded[0].G_ema  # the classifier is probed on a first batch shaped like its images
    return EvalModels(*loaded, load_classifier(config, device, required=True,
                                               shape=(G.img_channels, G.img_resolution)))


def evaluate_files(before: str, after: str, config: RunConfig, device, *, gan: str | None = None,
                   inception_weights: str | None = None,
                   retrained: str | None = None) -> tuple[dict, EvalModels]:
    """`gan-unlearn eval`: the models' EMA generators through evaluate_pair, as `run` does."""
    models = load_eval_models(before, after, config, device, gan=gan, retrained=retrained,
                              inception_weights=inception_weights)
    result = evaluate_pair(models.before.G_ema, models.after.G_ema, models.classifier, config, device,
                           inception_weights=inception_weights,
                           G_retrained=models.retrained.G_ema if models.retrained else None)
    return {"command": "eval", "models": models.describe(), "eval": result}, models
