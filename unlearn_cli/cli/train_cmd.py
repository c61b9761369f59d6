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
    seed: Optional[int] = typer.Option(None, help="Random seed."),
    config: Optional[Path] = typer.Option(None, "--config", help="YAML file of options."),
    out: Optional[str] = typer.Option(None, help="Output folder."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Allow a non-empty --out."),
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
    flags = {"data": data, "gan": gan, "iters": iters, "device": device, "precision": precision,
             "seed": seed, "out": out, "overwrite": overwrite or None, "train.batch": batch,
             "train.lr": lr, "arch": arch_values or None}
    summary = run_training(resolve(TrainConfig, config, flags), show_progress=not quiet)
    typer.echo(f"trained {summary['iters']} steps in {summary['seconds']} s -> {summary['model']}")
