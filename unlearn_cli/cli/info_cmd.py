"""`gan-unlearn info FILE`: what a model file says about itself, or what a foreign checkpoint
would import as. Nothing is written; nothing from the file is run.

Everything shown comes from a stranger's file, so every value is printed escaped
(unlearn_cli/safe_text.py): rich markup such as ``[/]`` shows as text, control characters and
terminal escape sequences show as ``\\x1b``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from unlearn_cli.cli.common import print_json


def info(
    model: Path = typer.Argument(..., help="A model file: ours (.safetensors), a rosinality .pt "
                                           "or an NVIDIA .pkl."),
    gan: Optional[str] = typer.Option(None, help="GAN plugin that reads a foreign checkpoint "
                                                 "(default: stylegan2)."),
    json_output: bool = typer.Option(False, "--json", help="Print JSON only."),
) -> None:
    """Show a model file's plugin, config, stage, parent hash, parameter counts and sha256; for a
    foreign checkpoint, what `convert` would import (format, config, parts, notes)."""
    from unlearn_cli.io.atomic import sha256_file
    from unlearn_cli.io.readable import check_readable

    if not model.exists():
        from unlearn_cli.errors import UnlearnError
        raise UnlearnError(f"model file not found: {model}")
    check_readable(model, "model file")
    data = _ours(model) if _is_ours(model) else _foreign(model, gan)
    data = {"file": str(model), "sha256": sha256_file(model),
            "size_bytes": model.stat().st_size, **data}
    if json_output:
        print_json(data)
        return
    _print_table(model, data)


def _is_ours(path: Path) -> bool:
    """Our .safetensors files, and any .safetensors (read_header then says if it is not ours)."""
    if path.suffix == ".safetensors":
        return True
    with open(path, "rb") as handle:  # a safetensors header: 8-byte length, then '{'
        head = handle.read(9)
    return len(head) == 9 and head[8:9] == b"{"


def _ours(path: Path) -> dict:
    from unlearn_cli.io.modelfile import read_header

    header = read_header(path)
    return {
        "kind": "gan-unlearn model", "gan": header.gan, "stage": header.stage,
        "parent_sha256": header.parent_sha256, "tool_version": header.tool_version,
        "config": header.config, "params": header.params,
        "parameter_counts": header.parameter_counts(), "extra": header.extra,
        "plugins": header.plugins,
    }


def _foreign(path: Path, gan: str | None) -> dict:
    """What importing would give, by the gan plugin's own (safe) reader; a refusal is the
    plugin's one-line message, which says what the file is and why it is refused."""
    from unlearn_cli.engine.models import _plugin_call
    from unlearn_cli.errors import UnlearnError
    from unlearn_cli.plugins import get_registry

    provided = get_registry().provided("gan", gan or "stylegan2")
    name, plugin = provided.spec.name, provided.spec.load()
    if not _plugin_call(plugin.can_import, name, path, path):
        raise UnlearnError(f"{path} is neither a gan-unlearn model nor a checkpoint the '{name}' "
                           f"plugin can read (damaged, truncated or another format); check the "
                           f"file or pass the right --gan")
    imported = _plugin_call(plugin.import_checkpoint, name, path, path)
    config = _plugin_call(plugin.validate_config, name, path, imported.config)
    parts = {"G": imported.generator, "G_ema": imported.generator_ema,
             "D": imported.discriminator}
    counts = {part: sum(int(t.numel()) for t in state.values())
              for part, state in parts.items() if state}
    return {
        "kind": "foreign checkpoint", "format": imported.source_format, "gan": name,
        "imports": True, "config": config, "parameter_counts": counts,
        "notes": list(imported.warnings),
        "import_with": f"gan-unlearn convert {path} OUT.safetensors"
                       + (f" --gan {gan}" if gan else ""),
    }


def _print_table(model: Path, data: dict) -> None:
    import json

    from rich.console import Console
    from rich.table import Table

    from unlearn_cli.safe_text import for_rich

    table = Table(title=for_rich(model), show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")

    def row(key, value) -> None:
        table.add_row(for_rich(key), for_rich(value if value not in ("", None) else "-"))

    for key in ("kind", "format", "gan", "stage", "sha256", "size_bytes", "parent_sha256",
                "tool_version"):
        if key in data:
            row(key, data[key])
    for part, count in data["parameter_counts"].items():
        row(f"parameters {part}", f"{count:,}")
    row("config", json.dumps(data["config"], sort_keys=True))
    if data.get("params"):
        row("params", json.dumps(data["params"], sort_keys=True))
    for kind, made_by in (data.get("plugins") or {}).items():  # which plugin versions made it
        made_by = made_by if isinstance(made_by, dict) else {}
        row(f"plugin {kind}", f"{made_by.get('name')} ({made_by.get('distribution') or '?'} "
                              f"{made_by.get('version') or '?'})")
    for key, value in (data.get("extra") or {}).items():
        row(key, value)
    for note in data.get("notes") or []:
        row("note", note)
    if "import_with" in data:
        row("import with", data["import_with"])
    Console().print(table)
