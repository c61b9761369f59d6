"""`gan-unlearn list-plugins`: what is installed, from which distribution, and whether it loaded."""
from __future__ import annotations

import typer

from unlearn_cli.cli.common import print_json


def list_plugins(
    json_output: bool = typer.Option(False, "--json", help="Print JSON only."),
) -> None:
    """List every plugin component: kind, name, summary, distribution, version, status."""
    from unlearn_cli.plugins import as_rows, get_registry

    registry = get_registry()
    rows = as_rows(registry)
    if json_output:
        print_json({"components": rows, "plugins": [vars(p) for p in registry.plugins]})
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="gan-unlearn plugins")
    for column in ("kind", "name", "summary", "distribution", "version", "status"):
        table.add_column(column, overflow="fold")
    for r in rows:
        status = "[green]ok[/green]" if r["status"] == "ok" else "[red]failed[/red]"
        table.add_row(r["kind"], r["name"], r["summary"], r["distribution"], r["version"], status)
    Console().print(table)
