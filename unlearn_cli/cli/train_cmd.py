"""`gan-unlearn train`: train a GAN from scratch on a folder of images or a dataset plugin."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer


def train(
    data: Optional[str] = typer.Option(None, help="Folder of images or a dataset plugin (default: digits)."),
    gan: Optional[str] = typer.Option(None, help="GAN plugin (default: stylegan2)."),
    arch: Optional[List[str]] = typer.Option(None, help="Architecture option KEY=VALUE (repeatable), e.g. resolution=16."),
    iters: Optional[int] = typer.Option(None, help="Training steps."),
    batch: Optional[int] = typer.Option(None, help="Batch size."),
    lr: Optional[float] = typer.Option(None, help="Adam learning rate."),
    device: Optional[str] = typer.Option(None, help="auto, cpu or cuda."),
    precision: Optional[str] = typer.Option(None, help="fp32 or bf16."),
    compile: Optional[str] = typer.Option(None, "--compile", help="auto, on or off: torch.compile the G and D forward passes (docs/performance.md)."),
    seed: Optional[int] = typer.Option(None, help="Random seed."),
    config: Optional[Path] = typer.Option(None, "--config", help="YAML file of options."),
    out: Optional[str] = typer.Option(None, help="Output folder."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace the training in --out (a fresh start; other non-empty folders: add to them)."),
    resume: Optional[Path] = typer.Option(None, help="Continue an interrupted training in this folder (its saved options)."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
) -> None:
    """Train a GAN with the same adversarial loop (writes model.safetensors, stage pretrained)."""
    import yaml

    from unlearn_cli.config import TrainConfig, resolve
    from unlearn_cli.engine.train import train as run_training
    from unlearn_cli.errors import UnlearnError

    arch_values = {}
    for item in arch or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UnlearnError(f"--arch {item!r} must look like KEY=VALUE")
        arch_values[key] = yaml.safe_load(value)
    flags = {"data": data, "gan": gan, "iters": iters, "device": device, "precision": precision, "compile": compile,
             "seed": seed, "out": out, "overwrite": overwrite or None, "train.batch": batch,
             "train.lr": lr, "arch": arch_values or None}
    if resume is not None:
        given = [k for k, v in flags.items() if v is not None] + (["config"] if config else [])
        if given:
            raise UnlearnError(f"--resume takes the options saved in {resume}/config.yaml; drop "
                               f"--{given[0].replace('train.', '').replace('_', '-')}")
        saved = resume / "config.yaml"
        if not saved.is_file():
            raise UnlearnError(f"--resume {resume}: no config.yaml there; is it a training folder?")
        options = resolve(TrainConfig, saved)
    else:
        options = resolve(TrainConfig, config, flags)
    summary = run_training(options, show_progress=not quiet, resume_dir=resume)
    typer.echo(f"trained {summary['iters']} steps in {summary['seconds']} s -> {summary['model']}")
