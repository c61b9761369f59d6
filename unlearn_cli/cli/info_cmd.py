"""`gan-unlearn info FILE`: what a model file says about itself."""
from __future__ import annotations

from pathlib import Path

import typer

from unlearn_cli.cli.common import print_json


def info(
    model: Path = typer.Argument(..., help="A gan-unlearn .safetensors model file."),
    json_output: bool = typer.Option(False, "--json", help="Print JSON only."),
) -> None:
    """Show a model file's plugin, config, stage, parent hash, parameter counts and sha256."""
    from unlearn_cli.io.atomic import sha256_file
    from unlearn_cli.io.modelfile import read_header

    header = read_header(model)
    data = {
        "file": str(model), "sha256": sha256_file(model), "gan": header.gan,
        "stage": header.stage, "parent_sha256": header.parent_sha256,
        "tool_version": header.tool_version, "config": header.config, "params": header.params,
        "parameter_counts": header.parameter_counts(), "extra": header.extra,
        "plugins": header.plugins,
    }
    if json_output:
        print_json(data)
        return
    import json

    from rich.console import Console
    from rich.table import Table

    table = Table(title=str(model), show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    for key in ("gan", "stage", "sha256", "parent_sha256", "tool_version"):
        table.add_row(key, str(data[key]) or "-")
    for part, count in data["parameter_counts"].items():
        table.add_row(f"parameters {part}", f"{count:,}")
    table.add_row("config", json.dumps(header.config, sort_keys=True))
    if header.params:
        table.add_row("params", json.dumps(header.params, sort_keys=True))
    for kind, made_by in header.plugins.items():  # which plugin versions made the file
        table.add_row(f"plugin {kind}", f"{made_by.get('name')} ({made_by.get('distribution') or '?'} "
                                        f"{made_by.get('version') or '?'})")
    for key, value in header.extra.items():
        table.add_row(key, value)
    Console().print(table)
