"""Options: YAML file + command-line flags -> one validated config object. Defaults live here.

Precedence: built-in defaults < ``--config FILE.yaml`` < flags given on the command line.
An unknown key, a wrong type, a negative or non-finite number is a one-line UnlearnError naming
the key. The resolved config is saved with every run (``config.yaml`` in the run folder).
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, List, Literal, Optional, TypeVar, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from unlearn_cli.errors import UnlearnError

T = TypeVar("T", bound=BaseModel)
MAX_INT = 2**31 - 1  # every integer option (seeds, counts, iterations) is at most this
MAX_SAMPLES = 1_000_000  # --candidates, --eval-samples: each sample is held in memory
MAX_BATCH = 65536
DEFAULT_MODEL = "bundled:mnist"  # what `gan-unlearn run` forgets from when --ckpt is not given
MODEL_ENV = "GAN_UNLEARN_MODEL"  # overrides it, e.g. bundled:digits (the small, fast model)


def default_model() -> str:
    """--ckpt when it is not given: $GAN_UNLEARN_MODEL if set, else the bundled MNIST model."""
    import os

    return os.environ.get(MODEL_ENV, "").strip() or DEFAULT_MODEL


class StrictModel(BaseModel):
    # numbers are accepted for text options (`target: 8` in YAML means the class "8")
    model_config = ConfigDict(extra="forbid", validate_assignment=True, coerce_numbers_to_str=True)

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_numbers(cls, value: Any, info) -> Any:
        """YAML's true/false is not a number (pydantic would read it as 1/0)."""
        annotation = cls.model_fields[info.field_name].annotation
        if isinstance(value, bool) and annotation in (int, float):
            raise ValueError("must be a number, not true/false")
        return value

    @field_validator("*", mode="after")
    @classmethod
    def _finite(cls, value: Any, info) -> Any:
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError("must be a finite number")
        if isinstance(value, int) and not isinstance(value, bool) and value > MAX_INT:
            # a count or seed past this is a typo, and torch/numpy overflow on it (issue 19.23)
            raise ValueError(f"must be at most {MAX_INT}")
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value < 0:
            raise ValueError("must not be negative")
        return value


class TrainOptions(StrictModel):
    """The adversarial loop's options, shared by adapt, unlearn and train."""

    batch: int = Field(16, ge=1, le=MAX_BATCH)
    lr: float = 0.002
    beta1: float = Field(0.0, lt=1)
    beta2: float = Field(0.99, lt=1)
    r1_gamma: float = 0.05
    r1_interval: int = 16
    ema_decay: float = Field(0.995, le=1)
    checkpoint_every: int = 0  # 0 = only at the end of a stage
    log_every: int = 10
    # what D sees, real and fake alike, is shifted by up to 1/8 of the image (differentiably, as
    # in DiffAugment, Zhao et al. 2020), so that D cannot memorise a small dataset: without it
    # a 32 px StyleGAN2 on 4500 MNIST digits collapsed to a few digits (docs/bundled-model.md)
    augment: Literal["none", "translate"] = "none"


class RunConfig(StrictModel):
    """Everything `gan-unlearn run/adapt/unlearn` needs. Flags and YAML keys use these names."""

    @field_validator("target", mode="before")
    @classmethod
    def _one_or_several(cls, value: Any) -> Any:
        """A list of one is that one (config.yaml of a one-target run stays as it was)."""
        if isinstance(value, (list, tuple)):
            if not value:
                raise ValueError("needs at least one class")
            names = [str(v).strip() for v in value]
            twice = next((n for i, n in enumerate(names) if n in names[:i]), None)
            if twice is not None:
                raise ValueError(f"names the class {twice[:40]!r} twice (each target once)")
            return names[0] if len(names) == 1 else names
        return value

    @property
    def targets(self) -> list[str]:
        """The target classes as a list (one or several)."""
        return list(self.target) if isinstance(self.target, list) else [self.target]

    gan: Optional[str] = None  # None: read from our model files; stylegan2 for foreign ones
    ckpt: str = Field(default_factory=default_model)  # a path, or bundled:NAME (a dataset plugin's shipped model)
    method: str = "adapt-then-unlearn"
    # negatives
    source: str = "classifier"
    neg: Optional[str] = None  # folder of negative images (implies source=folder)
    # None: the classifier the bundled model's dataset plugin names (bundled:mnist -> mnist);
    # for any other model none, so no classifier meant for other images judges it by accident
    classifier: Optional[str] = None  # its file, if it takes one: classifier_options.path
    # one class, or several (`--target 3 --target 8`, a YAML list): a sample showing any is negative
    target: Union[str, List[str]] = "8"
    # stage 1: adapt
    adapt_iters: int = 300
    adapted_models: int = Field(1, ge=1)
    ewc_lambda: float = 1.0  # multiplies the Fisher normalised to mean 1 (scale-free)
    fisher_samples: int = Field(32, ge=1)
    # stage 2: unlearn
    unlearn_iters: int = 1000
    repulsion: str = "exp"
    gamma: float = 1.0
    # weight of the adapted models' samples shown to D as fake during unlearning; 0 = the
    # paper's stage 2 exactly (docs/method.md, docs/results.md: this is what moves PUL)
    adapted_fakes: float = 1.0
    # evaluation
    eval_samples: int = Field(2000, ge=2, le=MAX_SAMPLES)
    reference: Optional[str] = None  # real images for FID: a dataset plugin name or a folder
    # each chosen component's own options, typed by its spec's options_model and complete with
    # its defaults (unlearn_cli/component_options.py): -o KEY=VALUE, `source_options:` in YAML,
    # and the older flags (--threshold, --alpha, ...) that are kept as aliases
    source_options: dict[str, Any] = {}
    repulsion_options: dict[str, Any] = {}
    method_options: dict[str, Any] = {}
    classifier_options: dict[str, Any] = {}
    # run
    train: TrainOptions = TrainOptions()
    device: Literal["auto", "cpu", "cuda"] = "auto"
    precision: Literal["fp32", "bf16"] = "fp32"
    # torch.compile of G's and D's forward passes (engine/compiling.py); auto: only where it was
    # measured to make the whole run faster
    compile: Literal["auto", "on", "off"] = "auto"
    seed: int = 0
    out: Optional[str] = None

    @field_validator("out")
    @classmethod
    def _out_name(cls, value: Optional[str]) -> Optional[str]:
        from unlearn_cli.io.names import name_problem

        problem = name_problem(value) if value else ""
        if problem:  # found now, not when the first file is written (issue 19.12)
            raise ValueError(problem)
        return value
    overwrite: bool = False
    # also write the unlearned model for other tools: a gan plugin's export format, safetensors,
    # or auto (a foreign input's own format); docs/formats.md "Export"
    export: Optional[str] = None

    @model_validator(mode="before")
    @classmethod
    def _component_options(cls, data: Any) -> Any:
        """Route -o/YAML/alias options to the chosen components and check them (before any
        loading: a misspelt key or a wrong type fails here, naming the component)."""
        if not isinstance(data, dict):
            return data
        from unlearn_cli.component_options import resolve_run

        defaults = {k: f.default for k, f in cls.model_fields.items()}
        return resolve_run(data, defaults)


def _describe(error: ValidationError) -> str:
    first = error.errors()[0]
    key = ".".join(str(p) for p in first["loc"]) or "config"
    if first["type"] == "extra_forbidden":
        return f"unknown config key '{key}'"
    value = _quote(first.get("input"))
    return f"config key '{key}': {first['msg'].lower()} (got {value})"


def _quote(value: Any) -> str:
    """A bounded repr: an error message never prints a huge (or alias-expanded) value."""
    import reprlib

    short = reprlib.Repr()
    short.maxlevel, short.maxlist, short.maxdict, short.maxstring, short.maxother = 3, 6, 6, 60, 60
    return short.repr(value)


def read_yaml(path: str | Path) -> dict[str, Any]:
    """A YAML config file as a dict; see config_yaml.py for the limits on what is read."""
    from unlearn_cli.config_yaml import load_config_yaml

    return load_config_yaml(path)


def resolve(model: type[T], config_file: str | Path | None = None,
            overrides: dict[str, Any] | None = None) -> T:
    """Defaults, then the YAML file, then the flags that were actually given (not None).

    For a run on a bundled model (``bundled:NAME``), the options its dataset plugin recommends
    for it (``run_options`` on the dataset spec: what the model was tuned with) come between the
    defaults and the YAML file; the resolved config, saved with the run, shows them."""
    data: dict[str, Any] = read_yaml(config_file) if config_file else {}
    if model is RunConfig:
        data = _with_bundled_run_options(data, overrides or {})
    for key, value in (overrides or {}).items():
        if value is None:
            continue
        if "." in key:  # nested, e.g. train.batch
            outer, inner = key.split(".", 1)
            section = data.setdefault(outer, {})
            if not isinstance(section, dict):
                raise UnlearnError(f"config key '{outer}' must be a mapping")
            section[inner] = value
        else:
            data[key] = value
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise UnlearnError(_describe(exc) + "; fix it in the config file or flag") from None


def _with_bundled_run_options(data: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    given = lambda key: overrides.get(key) if overrides.get(key) is not None else data.get(key)  # noqa: E731
    ckpt = str(given("ckpt") or default_model())
    if not ckpt.startswith("bundled:"):
        return data
    from unlearn_cli.plugins import get_registry

    try:
        spec = get_registry().find("dataset", ckpt.removeprefix("bundled:"))
    except UnlearnError:
        return data  # an unknown bundled name is reported where the model is loaded
    recommended = dict(spec.options.get("run_options") or {})
    # options of the default source only reach a run that uses it
    source_options = recommended.pop("source_options", None) or {}
    uses_default_source = given("source") in (None, RunConfig.model_fields["source"].default) and not given("neg")
    merged = {key: (dict(value) if isinstance(value, dict) else value) for key, value in recommended.items()}
    for key, value in data.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    if uses_default_source and source_options:
        mine = merged.get("source_options") if isinstance(merged.get("source_options"), dict) else {}
        flat = merged.get("options") if isinstance(merged.get("options"), dict) else {}
        extra = {k: v for k, v in source_options.items() if k not in mine and k not in flat
                 and f"options.{k}" not in overrides and f"options.source.{k}" not in overrides}
        if extra:
            merged["source_options"] = {**extra, **mine}
    return merged


def parse_plugin_options(items: list[str] | None, flag: str = "--option") -> dict[str, Any]:
    """``-o``/``--plugin-option`` items -> ``{"options.KEY": "VALUE", ...}`` for ``resolve``: each
    flag overrides the same key of the YAML file's ``options``/``plugin_options`` and keeps the
    others; the values stay text until the chosen component's model converts them."""
    from unlearn_cli.component_options import parse_items

    return {f"options.{key}": value for key, value in parse_items(items, flag).items()}


def to_yaml(config: BaseModel) -> str:
    import yaml

    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)


class TrainConfig(StrictModel):
    """`gan-unlearn train`: plain adversarial training on real images (a dataset plugin or folder)."""

    gan: str = "stylegan2"
    data: str = "digits"  # a dataset plugin name or a folder of images
    arch: dict[str, Any] = {}  # the gan plugin's architecture config (its defaults fill the rest)
    iters: int = Field(3000, ge=1)
    train: TrainOptions = TrainOptions(batch=32)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    precision: Literal["fp32", "bf16"] = "fp32"
    # torch.compile of G's and D's forward passes (engine/compiling.py); auto: only where it was
    # measured to make the whole run faster
    compile: Literal["auto", "on", "off"] = "auto"
    seed: int = 0
    out: Optional[str] = None

    @field_validator("out")
    @classmethod
    def _out_name(cls, value: Optional[str]) -> Optional[str]:
        from unlearn_cli.io.names import name_problem

        problem = name_problem(value) if value else ""
        if problem:  # found now, not when the first file is written (issue 19.12)
            raise ValueError(problem)
        return value
    overwrite: bool = False
