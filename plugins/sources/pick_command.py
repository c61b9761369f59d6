"""`gan-unlearn pick MODEL --out picks.json`: pick the undesired samples before a run.

Registered by the sources plugin (register_commands). This module is imported at every start of
the CLI, so it imports nothing heavy at the top.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def pick(
    model: str = typer.Argument(..., help="Model file or bundled:NAME whose samples you pick from."),
    out: Path = typer.Option(..., "--out", help="Picks file to write (JSON); an existing one is continued."),
    gan: Optional[str] = typer.Option(None, help="GAN plugin for foreign checkpoints."),
    seed: int = typer.Option(0, min=0, help="Seed of the samples: pass the same to `run`."),
    candidates: int = typer.Option(2000, min=2, help="At most this many samples can be shown."),
    host: str = typer.Option("127.0.0.1", help="Address the page listens on (another than 127.0.0.1 is reachable by others)."),
    port: Optional[int] = typer.Option(None, help="Port of the page (default 8765, else any free one)."),
    device: str = typer.Option("auto", help="auto, cpu or cuda."),
) -> None:
    """Pick the samples to forget in a browser page; use them with `run --source manual --pick-file`."""
    from unlearn_cli.api import model_source_context

    from . import common
    from .browser_pick import pick_in_browser, starting_picks
    from .sample_stream import SampleStream

    context = model_source_context(model, gan, device, options={"seed": seed})
    picks = starting_picks(context, seed, out, min(candidates, common.GRID_MAX))
    picks = pick_in_browser(context, SampleStream(context, seed), picks, out, candidates, host, port)
    where = f" --ckpt {model}" if model != "bundled:digits" else ""
    common.info(f"{len(picks.picked)} of {picks.shown} samples picked, saved in {out}; use them with:\n"
                f"    gan-unlearn run --source manual --pick-file {out} --seed {seed}{where}")
