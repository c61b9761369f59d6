"""The Python API: ``from unlearn_cli import unlearn`` runs what ``gan-unlearn run`` runs.

    result = unlearn(target="8", adapt_iters=100, unlearn_iters=200, out="runs/no8")
    result.metrics["eval"]["pul"], result.files["unlearned"], result.generator()

The options are the CLI's (the same names with underscores, validated by the same RunConfig
before anything is loaded: docs/python-api.md); nothing is printed and no progress bar is shown
unless ``progress=True``; a problem raises :class:`unlearn_cli.errors.UnlearnError` with the
message the CLI would print (it never exits the interpreter).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Shorter names the CLI uses for nested options (``--batch`` is ``train.batch``)
ALIASES = {"batch": "train.batch", "lr": "train.lr"}


def run_config(config: Any = None, **options: Any):
    """The validated RunConfig of ``config`` (a YAML path, a dict, a RunConfig or None) with
    ``options`` on top, exactly as the CLI resolves its ``--config`` file and flags."""
    from unlearn_cli.config import RunConfig, resolve

    overrides = {ALIASES.get(key, key): value for key, value in options.items()}
    if isinstance(config, RunConfig):
        base = config.model_dump(mode="json")
        for key, value in overrides.items():
            _set(base, key, value)
        return resolve(RunConfig, None, _dotted(base))
    if isinstance(config, dict):
        merged = _dotted(config)
        merged.update({k: v for k, v in overrides.items() if v is not None})
        return resolve(RunConfig, None, merged)
    return resolve(RunConfig, str(config) if config is not None else None, overrides)


def _dotted(values: dict, prefix: str = "") -> dict:
    """{"train": {"batch": 4}} -> {"train.batch": 4}: the form resolve() takes overrides in."""
    out: dict = {}
    for key, value in values.items():
        if isinstance(value, dict) and key == "train":
            out.update(_dotted(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _set(values: dict, key: str, value: Any) -> None:
    if "." in key:
        outer, inner = key.split(".", 1)
        values.setdefault(outer, {})[inner] = value
    else:
        values[key] = value


@dataclass
class RunResult:
    """What a run produced: its folder, its metrics (metrics.json) and its files."""

    out_dir: Path
    metrics: dict
    config: Any
    files: dict[str, Path] = field(default_factory=dict)

    def generator(self, which: str = "unlearned", device: str = "cpu"):
        """The EMA generator of a model file of the run ("unlearned", or "adapted"), loaded
        in-process: ``G(z)`` gives images in [-1, 1] for latents ``z`` [n, G.z_dim]."""
        from unlearn_cli.engine.models import load_gan

        if which not in self.files:
            raise KeyError(f"this run has no {which!r} model; it has {sorted(self.files)}")
        return load_gan(str(self.files[which]), None, device).G_ema

    @property
    def pul(self) -> float | None:
        """The run's PUL (percent of the target unlearned) when a classifier measured it."""
        return (self.metrics.get("eval") or {}).get("pul")


def unlearn(config: Any = None, *, progress: bool = False, resume: str | Path | None = None,
            **options: Any) -> RunResult:
    """Run Adapt-then-Unlearn (``gan-unlearn run``) and return its :class:`RunResult`.

    ``config``: a YAML file, a dict or a RunConfig; ``options``: any option of ``gan-unlearn
    run`` with underscores (``target="8"``, ``adapt_iters=100``, ``batch=8``, ``out="dir"``).
    ``resume``: a run folder to continue (its saved options are used). Raises UnlearnError.
    """
    from unlearn_cli.engine.pipeline import load_resume_config, run

    settings = load_resume_config(resume) if resume is not None else run_config(config, **options)
    echo = print if progress else (lambda _message: None)
    metrics = run(settings, show_progress=progress, echo=echo, ask=None, resume_dir=resume)
    out_dir = Path(metrics["out_dir"])
    files = {}
    outputs = metrics.get("outputs") or {}
    if "unlearned" in outputs:
        files["unlearned"] = out_dir / outputs["unlearned"]["file"]
    for entry in outputs.get("adapted") or []:
        files.setdefault("adapted", out_dir / entry["file"])
    for name in ("report.html", "report.md", "metrics.json", "config.yaml"):
        if (out_dir / name).is_file():
            files[name.replace(".", "_")] = out_dir / name
    return RunResult(out_dir, metrics, settings, files)
