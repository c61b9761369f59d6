"""`gan-unlearn export`: a model in the formats other tools load (the gan plugin's exporter)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from unlearn_cli.cli.common import visible


def export(
    model: str = typer.Argument(..., help="Model to export: a gan-unlearn .safetensors (or a checkpoint `convert` reads)."),
    out: Path = typer.Argument(..., help="Output file (.pt for torch.save formats, .safetensors for safetensors)."),
    fmt: str = typer.Option(..., "--format", help="rosinality, nvidia-state-dict or safetensors (the formats the model's gan plugin writes; auto: a foreign input's own)."),
    names: Optional[str] = typer.Option(None, "--names", help="With --format safetensors: whose tensor names, rosinality or nvidia (default: the input's own, else nvidia)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace OUT if it exists."),
) -> None:
    """Write a model for other tools: rosinality .pt, NVIDIA state dicts, or safetensors."""
    from unlearn_cli.engine.export import export_model

    done = export_model(model, out, fmt, names, overwrite)
    for note in done.notes:
        typer.echo(visible(f"note: {note}"), err=True)
    for key, value in done.settings.items():  # what their constructors need (also in the file)
        typer.echo(f"{key}: {json.dumps(value, sort_keys=True)}")
    typer.echo(visible(f"{out}: {done.plan.format} ({done.plan.naming} names; "
                       f"{', '.join(done.parts)}), sha256 {done.sha256}"))
