"""`gan-unlearn list-plugins`: what is installed, from which distribution, and whether it loaded."""
from __future__ import annotations

import typer

from unlearn_cli.cli.common import for_rich as esc
from unlearn_cli.cli.common import print_json, warn


def list_plugins(
    json_output: bool = typer.Option(False, "--json", help="Print JSON only (every component's options included)."),
    options: bool = typer.Option(False, "--options", help="Also list each component's options: key, type, default, description."),
) -> None:
    """List every plugin component (kind, name, summary, distribution, version, status), the
    commands plugins add, and the hooks each distribution implements."""
    from unlearn_cli.component_options import KIND_KEYS
    from unlearn_cli.plugins import as_rows, command_rows, distribution_rows, get_registry, option_rows

    registry = get_registry()
    rows, commands, dists = as_rows(registry), command_rows(registry), distribution_rows(registry)
    by_name = {(p.kind, p.qualified): p for p in registry.components}
    for row in rows:  # (failed plugins' rows have no component, so no options)
        provided = by_name.get((row["kind"], row["qualified"]))
        if provided is not None and row["kind"] in KIND_KEYS:  # the kinds a run passes options to
            row["options"] = option_rows(provided)
    warnings = registry.warnings()
    if json_output:
        print_json({"components": rows, "commands": commands, "distributions": dists,
                    "warnings": warnings,
                    "plugins": [{k: v for k, v in vars(p).items() if k != "traceback"}
                                for p in registry.plugins]})
        return
    for line in warnings:  # collisions and refused commands: said here, once
        warn(line)
    from rich.console import Console
    from rich.table import Table

    # every name, summary and error below is a plugin's (a stranger's) text: printed escaped
    console = Console()
    table = Table(title="gan-unlearn plugins")
    for column in ("kind", "name", "summary", "distribution", "version", "status"):
        table.add_column(column, overflow="fold")
    collided = {(k, n) for k, n, _ in registry.collisions()}
    for r in rows:
        status = "[green]ok[/green]" if r["status"] == "ok" else "[red]failed[/red]"
        name = r["qualified"] if (r["kind"], r["name"]) in collided else r["name"]
        table.add_row(esc(r["kind"]), esc(name), esc(r["summary"]), esc(r["distribution"]),
                      esc(r["version"]), status)
    console.print(table)
    if options:
        _print_options(console, rows, collided)
    if commands:
        table = Table(title="commands added by plugins")
        for column in ("command", "summary", "distribution", "status"):
            table.add_column(column, overflow="fold")
        for c in commands:
            status = ("[green]ok[/green]" if c["status"] == "ok"
                      else f"[red]refused[/red] ({esc(c['refused'])})")
            table.add_row(esc(c["command"]), esc(c["summary"]), esc(c["distribution"]), status)
        console.print(table)
    table = Table(title="distributions")
    for column in ("distribution", "version", "entry points", "hooks", "status"):
        table.add_column(column, overflow="fold")
    for d in dists:
        status = "[green]ok[/green]" if d["status"] == "ok" else "[red]failed[/red]"
        table.add_row(esc(d["distribution"]), esc(d["version"]), esc(", ".join(d["entry_points"])),
                      esc(", ".join(h.removeprefix("register_") for h in d["hooks"]) or "-"), status)
    console.print(table)


def _print_options(console, rows, collided) -> None:
    """One table of every component's options (`-o KEY=VALUE`, `<kind>_options:` in YAML)."""
    from rich.table import Table

    from unlearn_cli.cli.common import for_rich as esc

    table = Table(title="component options (-o KEY=VALUE; KIND.KEY=VALUE when two take KEY)")
    for column in ("kind", "name", "option", "type", "default", "description"):
        table.add_column(column, overflow="fold")
    for r in rows:
        if "options" not in r:
            continue
        name = r["qualified"] if (r["kind"], r["name"]) in collided else r["name"]
        if r["options"] is None:
            table.add_row(esc(r["kind"]), esc(name), "-", "-", "-", "no options model: what it is given passes unchecked")
        elif not r["options"]:
            table.add_row(esc(r["kind"]), esc(name), "-", "-", "-", "takes no options")
        for o in r["options"] or []:
            default = "(required)" if o["required"] else repr(o["default"]) if isinstance(o["default"], str) else str(o["default"])
            table.add_row(esc(r["kind"]), esc(name), esc(o["key"]), esc(o["type"]), esc(default), esc(o["description"]))
    console.print(table)
