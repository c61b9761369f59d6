"""Typed options of components (issue 14): a spec's ``options_model`` says what users may set.

A run's options for its source, repulsion, method and classifier live in ``source_options``,
``repulsion_options``, ``method_options`` and ``classifier_options`` of the run config. They
come from ``-o KEY=VALUE`` (or ``-o KIND.KEY=VALUE`` when two chosen components take KEY), from
``<kind>_options:`` in YAML, and from the older flags and run keys that are kept as aliases
(``--threshold``, ``--alpha``, ``plugin_options:``, ...). Each set is checked against the chosen
component's model before anything loads, and saved with its defaults filled in.

This module imports pydantic, never torch; plugins reach it through ``unlearn_cli.api``.
"""
from __future__ import annotations

import math
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from unlearn_cli.errors import UnlearnError

MAX_INT = 2**31 - 1

#: component kind -> the run config key that holds its options
KIND_KEYS = {"source": "source_options", "repulsion": "repulsion_options",
             "method": "method_options", "classifier": "classifier_options"}

#: run keys (and flags) of earlier versions that now set a component's option:
#: old key -> (kind, option key, the old run default)
LEGACY = {
    "threshold": ("source", "threshold", 0.9),
    "candidates": ("source", "candidates", 2000),
    "max_negatives": ("source", "max_negatives", 128),
    "positive_max_prob": ("source", "positive_max_prob", 0.05),
    "pick": ("source", "pick", None),
    "pick_file": ("source", "pick_file", None),
    "ui": ("source", "ui", "auto"),
    "host": ("source", "host", "127.0.0.1"),
    "port": ("source", "port", None),
    "alpha": ("repulsion", "alpha", 1.0),
    "eps": ("repulsion", "eps", 1e-3),
    "extrapolation_strength": ("method", "extrapolation_strength", 0.5),
    "classifier_path": ("classifier", "path", None),
}


class ComponentOptions(BaseModel):
    """Base of a component's options model: unknown keys refused, numbers finite and at most
    2**31-1 (integers), YAML's true/false not taken for a number, numbers accepted for text
    (``target: 8``). Values given on the command line arrive as text and are converted to the
    field's type (``pattern=00001`` stays the text "00001" for a ``str`` field)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, coerce_numbers_to_str=True)

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_numbers(cls, value: Any, info) -> Any:
        annotation = cls.model_fields[info.field_name].annotation
        if isinstance(value, bool) and (annotation in (int, float) or _optional_of(annotation) in (int, float)):
            raise ValueError("must be a number, not true/false")
        return value

    @field_validator("*", mode="after")
    @classmethod
    def _finite(cls, value: Any, info) -> Any:
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError("must be a finite number")
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INT:
            raise ValueError(f"must be at most {MAX_INT}")
        return value


class NoOptions(ComponentOptions):
    """The options model of a component that takes none: any option given is refused by name.
    (A spec with no options_model at all is an older plugin's: what it is given passes unchecked.)"""


def _optional_of(annotation: Any) -> Any:
    args = [a for a in get_args(annotation) if a is not type(None)]
    return args[0] if get_origin(annotation) is Union and len(args) == 1 else None


def type_name(annotation: Any) -> str:
    """``int``, ``float | None``, ``auto|browser|terminal``: how help and list-plugins show a type."""
    if get_origin(annotation) is Literal:
        return "|".join(str(a) for a in get_args(annotation))
    inner = _optional_of(annotation)
    if inner is not None:
        return f"{type_name(inner)} | None"
    return getattr(annotation, "__name__", str(annotation).replace("typing.", ""))


def describe(model: type[BaseModel] | None) -> list[dict[str, Any]]:
    """One row per option: key, type, default (None when required), required, description."""
    if model is None:
        return []
    rows = []
    for key, info in model.model_fields.items():
        rows.append({"key": key, "type": type_name(info.annotation),
                     "default": None if info.is_required() else info.get_default(call_default_factory=True),
                     "required": info.is_required(), "description": info.description or ""})
    return rows


def _quote(value: Any) -> str:
    import reprlib

    short = reprlib.Repr()
    short.maxlevel, short.maxlist, short.maxdict, short.maxstring, short.maxother = 3, 6, 6, 60, 60
    return short.repr(value)


def _must(message: str) -> str:
    """pydantic's "Input should be greater than 0" -> "must be greater than 0"."""
    text = message.replace("Input should be", "must be").replace("Value error, ", "")
    return text[:1].lower() + text[1:]


def _keys_text(model) -> str:
    keys = list(model.model_fields) if model is not None else []
    return f"its options: {', '.join(keys)}" if keys else "it takes no options"


def validate(who: str, model: type[BaseModel] | None, given: dict[str, Any]) -> dict[str, Any]:
    """``given`` checked against ``model``: the full set with defaults, as JSON values.

    ``who`` names the component in messages (``source 'folder' (gan-unlearn 0.1.0)``).
    """
    if model is None:  # a plugin from before typed options: it reads what it is given, unchecked
        return dict(given)
    if not model.model_fields and given:
        key = next(iter(given))
        raise UnlearnError(f"{who} takes no options, got '{key}'; drop it (list-plugins "
                           f"--options shows what each component takes)")
    try:
        return model.model_validate(given).model_dump(mode="json")
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(p) for p in first["loc"]) or "?"
        if first["type"] == "extra_forbidden":
            raise UnlearnError(f"{who} has no option '{key}'; {_keys_text(model)}") from None
        if first["type"] == "missing":
            raise UnlearnError(f"{who} needs option '{key}': set it with -o {key}=VALUE; "
                               f"{_keys_text(model)}") from None
        raise UnlearnError(f"{who}: option '{key}' {_must(first['msg'])} (got "
                           f"{_quote(first.get('input'))}); {_keys_text(model)}") from None


def options_of(context: Any, model: type[BaseModel]) -> BaseModel:
    """A component's options, typed: the fields of ``model`` read from ``context.options`` (a
    SourceContext, a Job's config dict, or a plain dict), defaults for the rest. The core has
    checked them already in a run; direct calls (tests) get the same checks."""
    values = context if isinstance(context, dict) else getattr(context, "options", {}) or {}
    given = {k: values[k] for k in model.model_fields if k in values and values[k] is not None}
    try:
        return model.model_validate(given)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(p) for p in first["loc"])
        raise UnlearnError(f"option '{key}' {_must(first['msg'])} (got "
                           f"{_quote(first.get('input'))})") from None


# --------------------------------------------------------------------------- a run's options
def parse_items(items: list[str] | None, flag: str = "--option") -> dict[str, str]:
    """``["alpha=2", "source.threshold=0.5"]`` -> ``{"alpha": "2", "source.threshold": "0.5"}``;
    values stay text (the component's model converts them to its types)."""
    parsed: dict[str, str] = {}
    for item in items or []:
        key, sep, text = item.partition("=")
        key = key.strip()
        kind, dot, bare = key.rpartition(".")
        if not sep or not bare or (dot and kind not in KIND_KEYS):
            raise UnlearnError(f"{flag} takes KEY=VALUE or KIND.KEY=VALUE (KIND one of "
                               f"{', '.join(KIND_KEYS)}), got {item!r}; e.g. -o alpha=2 or "
                               f"-o repulsion.alpha=2")
        parsed[key] = text
    return parsed


def resolve_run(data: dict[str, Any], field_defaults: dict[str, Any]) -> dict[str, Any]:
    """The run config's raw values with every component option routed and checked.

    ``data``: what the YAML file and flags gave (``<kind>_options`` mappings, unrouted
    ``options``/``plugin_options``, older run keys); ``field_defaults``: the run config's
    defaults (for component names that were not given). Returns ``data`` with only the four
    ``<kind>_options`` keys left, each complete for its chosen component. A classifier not
    named yet (the bundled model names it later) keeps its options unchecked until it is.
    """
    from unlearn_cli.plugins import get_registry

    registry = get_registry()
    data = dict(data)
    if data.get("source") is None:
        chosen = _chosen_source(registry, data)
        if chosen:
            data["source"] = chosen
    else:
        _check_source_inputs(registry, data)
    names = {kind: data.get(kind, field_defaults.get(kind)) for kind in KIND_KEYS}
    given: dict[str, dict[str, Any]] = {}
    for kind, key in KIND_KEYS.items():
        value = data.pop(key, None)
        if value is not None and not isinstance(value, dict):
            raise UnlearnError(f"config key '{key}' must be a mapping of option: value")
        given[kind] = dict(value or {})
    provided = {kind: registry.provided(kind, name) for kind, name in names.items()
                if isinstance(name, str) and name}
    models = {kind: p.spec.options_class() for kind, p in provided.items()}
    for old, (kind, key, old_default) in LEGACY.items():  # older run keys, e.g. from a saved config
        if old not in data:
            continue
        value = data.pop(old)
        model = models.get(kind)
        if value is None or key in given[kind]:
            continue
        if (model is None or key not in model.model_fields) and value == old_default:
            continue  # an old config's default for an option this component does not take
        given[kind][key] = value
    free = {**dict(_mapping(data.pop("plugin_options", None), "plugin_options")),
            **dict(_mapping(data.pop("options", None), "options"))}
    for key, value in free.items():
        kind, dot, bare = str(key).rpartition(".")
        if not dot:
            kind = _owner(bare, provided, models)
        elif kind not in KIND_KEYS:
            raise UnlearnError(f"option '{key}': '{kind}' is not a component kind; use one of "
                               f"{', '.join(KIND_KEYS)}")
        given[kind][bare] = value
    for kind, key in KIND_KEYS.items():
        if kind in provided:
            data[key] = validate(provided[kind].label(), models[kind], given[kind])
        elif given[kind]:
            data[key] = given[kind]  # checked once the component is named
    return data


def _mapping(value: Any, key: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise UnlearnError(f"config key '{key}' must be a mapping of option: value")
    return value


def _check_source_inputs(registry, data: dict) -> None:
    """A key that belongs to one source (``--neg`` is the folder source's) given with another
    built-in --source (which reads no such key) would be ignored silently: refuse instead."""
    from unlearn_cli.plugins import BUILTIN_DIST

    given = registry.provided("source", data["source"])
    if given.plugin.dist != BUILTIN_DIST:  # a third-party source may read any run key (--neg too)
        return
    for p in registry.components:
        key = p.spec.chosen_by
        if p.kind != "source" or not key or data.get(key) in (None, "") or p.spec.name == given.spec.name:
            continue
        flag = "--" + key.replace("_", "-")
        raise UnlearnError(f"{flag} is the input of source '{p.spec.name}', but --source is "
                           f"'{data['source']}', which would ignore it: drop {flag} or --source")


def _chosen_source(registry, data: dict) -> str | None:
    """The source a run key chooses when --source is not given (``--neg DIR`` -> folder)."""
    from unlearn_cli.plugins import BUILTIN_DIST

    hits = [p for p in registry.components if p.kind == "source" and p.spec.chosen_by
            and data.get(p.spec.chosen_by) not in (None, "")]
    hits.sort(key=lambda p: p.plugin.dist != BUILTIN_DIST)  # a built-in first, else the first
    if not hits:
        return None
    same_name = [p for p in registry.components if p.kind == "source" and p.spec.name == hits[0].spec.name]
    return hits[0].spec.name if len(same_name) == 1 else hits[0].qualified


def _owner(key: str, provided: dict, models: dict) -> str:
    """The one chosen component that takes option ``key``."""
    owners = [kind for kind, model in models.items() if model is not None and key in model.model_fields]
    if len(owners) == 1:
        return owners[0]
    if owners:
        names = " and ".join(provided[k].label() for k in owners)
        raise UnlearnError(f"option '{key}' is taken by {names}; name one: "
                           + " or ".join(f"-o {k}.{key}=VALUE" for k in owners))
    chosen = "; ".join(f"{p.label()}: {', '.join(models[k].model_fields) if models[k] else 'none'}"
                       for k, p in provided.items())
    raise UnlearnError(f"no chosen component has an option '{key}'; options: {chosen}")
