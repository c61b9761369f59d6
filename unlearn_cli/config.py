"""Options: YAML file + command-line flags -> one validated config object. Defaults live here.

Precedence: built-in defaults < ``--config FILE.yaml`` < flags given on the command line.
An unknown key, a wrong type, a negative or non-finite number is a one-line UnlearnError naming
the key. The resolved config is saved with every run (``config.yaml`` in the run folder).
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal, Optional, TypeVar, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from unlearn_cli.errors import UnlearnError

T = TypeVar("T", bound=BaseModel)
MAX_INT = 2**31 - 1  # every integer option (seeds, counts, iterations) is at most this
MAX_SAMPLES = 1_000_000  # --candidates, --eval-samples: each sample is held in memory
MAX_BATCH = 65536


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


class RunConfig(StrictModel):
    """Everything `gan-unlearn run/adapt/unlearn` needs. Flags and YAML keys use these names."""

    gan: Optional[str] = None  # None: read from our model files; stylegan2 for foreign ones
    ckpt: str = "bundled:digits"  # a path, or bundled:NAME (a dataset plugin's shipped model)
    method: str = "adapt-then-unlearn"
    # negatives
    source: str = "classifier"
    neg: Optional[str] = None  # folder of negative images (implies source=folder)
    # None: the classifier the bundled model's dataset plugin names (bundled:digits -> digits);
    # for any other model none, so no classifier meant for other images judges it by accident
    classifier: Optional[str] = None
    classifier_path: Optional[str] = None
    target: str = "8"
    threshold: float = Field(0.9, gt=0, le=1)
    candidates: int = Field(2000, ge=1, le=MAX_SAMPLES)  # samples generated to look for negatives / positives
    # most confident flagged samples kept; 128 (nearly every flagged sample of 2000 candidates on
    # the bundled default) beat 32 on every seed: the adapted model sees more kinds of the feature
    max_negatives: int = 128
    pick: Optional[str] = None
    pick_file: Optional[str] = None
    # manual source: how it asks (auto, browser, terminal) and where its pick page listens
    ui: str = "auto"
    host: str = "127.0.0.1"
    port: Optional[int] = Field(None, ge=0, le=65535)  # None: 8765, else any free port
    # stage 1: adapt
    adapt_iters: int = 300
    adapted_models: int = Field(1, ge=1)
    ewc_lambda: float = 1.0  # multiplies the Fisher normalised to mean 1 (scale-free)
    fisher_samples: int = Field(32, ge=1)
    # stage 2: unlearn
    unlearn_iters: int = 1000
    repulsion: str = "exp"
    gamma: float = 1.0
    alpha: float = 1.0
    eps: float = 1e-3
    # weight of the adapted models' samples shown to D as fake during unlearning; 0 = the
    # paper's stage 2 exactly (docs/method.md, docs/results.md: this is what moves PUL)
    adapted_fakes: float = 1.0
    # extrapolation baseline (method "extrapolation")
    extrapolation_strength: float = 0.5  # g = -strength in theta_G + g (theta_N - theta_G)
    # evaluation
    eval_samples: int = Field(2000, ge=2, le=MAX_SAMPLES)
    reference: Optional[str] = None  # real images for FID: a dataset plugin name or a folder
    # options of components from other packages (a source or method we do not ship): the core
    # keeps them, unchecked, for the plugin to read (`--plugin-option KEY=VALUE`, docs/plugins)
    plugin_options: dict[str, Union[bool, int, float, str]] = {}
    # run
    train: TrainOptions = TrainOptions()
    device: Literal["auto", "cpu", "cuda"] = "auto"
    precision: Literal["fp32", "bf16"] = "fp32"
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


def _describe(error: ValidationError) -> str:
    first = error.errors()[0]
    key = ".".join(str(p) for p in first["loc"]) or "config"
    if first["type"] == "extra_forbidden":
        return f"unknown config key '{key}'"
    value = _quote(first.get("input"))
    if first["loc"][0] == "plugin_options" and len(first["loc"]) > 2:  # the loc ends in a union member
        return f"config key 'plugin_options.{first['loc'][1]}': must be a number, text or true/false (got {value})"
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
    """Defaults, then the YAML file, then the flags that were actually given (not None)."""
    data: dict[str, Any] = read_yaml(config_file) if config_file else {}
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


def parse_plugin_options(items: list[str] | None) -> dict[str, Any]:
    """``["blur=3", "mode=soft"]`` -> ``{"plugin_options.blur": 3, ...}`` for ``resolve`` (so a
    flag overrides the same key of the YAML file's ``plugin_options`` and keeps the others)."""
    import yaml

    parsed: dict[str, Any] = {}
    for item in items or []:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key or "." in key:
            raise UnlearnError(f"--plugin-option takes KEY=VALUE (a key without dots), got {item!r}; "
                               f"e.g. --plugin-option blur=3")
        try:
            value = yaml.safe_load(text) if text.strip() else ""
        except yaml.YAMLError:
            value = text
        if not isinstance(value, (bool, int, float, str)):
            value = text  # a list or mapping stays the text the user typed
        parsed[f"plugin_options.{key}"] = value
    return parsed


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
