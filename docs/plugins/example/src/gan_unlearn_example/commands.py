"""`gan-unlearn repulsion-table`: compare repulsion variants, loss(d) side by side."""
from typing import List, Optional

import typer


def repulsion_table(
    names: Optional[List[str]] = typer.Argument(None, help="Repulsions to show (default: all)."),
    alpha: float = typer.Option(1.0, help="alpha passed to every variant."),
    eps: float = typer.Option(1e-3, help="eps passed to every variant."),
    d_max: float = typer.Option(3.0, help="Largest d shown."),
) -> None:
    """Print loss(d) of repulsion variants for d from 0 to --d-max (d = 1 when unlearning starts)."""
    import torch

    from unlearn_cli.api import component_names, load_component

    names = names or component_names("repulsion")
    losses = {name: load_component("repulsion", name)(alpha=alpha, eps=eps) for name in names}
    typer.echo("d".rjust(6) + "".join(name.rjust(12) for name in names))
    for d in torch.linspace(0, d_max, 7):
        values = [float(fn(d)) + 0.0 for fn in losses.values()]  # + 0.0 turns -0 into 0
        typer.echo(f"{float(d):6.2f}" + "".join(f"{v:12.4g}" for v in values))
