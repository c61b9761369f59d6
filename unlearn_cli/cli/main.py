"""The Typer application, built by a factory so tests can build it afresh.

Commands live one module per group and are imported here by name only: their heavy imports
(torch) happen inside the command functions, so `gan-unlearn --help` starts fast.
"""
from __future__ import annotations

import sys

import typer
from typer.core import TyperGroup

from unlearn_cli import __version__
from unlearn_cli.cli import common

PLUGIN_PANEL = "Plugins"

# (command name, module, function) of the built-in commands, in help order.
BUILTIN_COMMANDS = [
    ("list-plugins", "unlearn_cli.cli.plugins_cmd", "list_plugins"),
    ("run", "unlearn_cli.cli.run_cmd", "run"),
    ("adapt", "unlearn_cli.cli.run_cmd", "adapt"),
    ("unlearn", "unlearn_cli.cli.run_cmd", "unlearn"),
    ("train", "unlearn_cli.cli.train_cmd", "train"),
    ("eval", "unlearn_cli.cli.eval_cmd", "eval"),
    ("sample", "unlearn_cli.cli.model_cmds", "sample"),
    ("convert", "unlearn_cli.cli.model_cmds", "convert"),
    ("export", "unlearn_cli.cli.export_cmd", "export"),
    ("info", "unlearn_cli.cli.info_cmd", "info"),
]


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"gan-unlearn {__version__}")
        raise typer.Exit()


def _root(
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks for errors."),
    version: bool = typer.Option(False, "--version", callback=_version_callback, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    """Make a pre-trained GAN stop producing something (Adapt-then-Unlearn)."""
    common.set_debug(debug)
    if debug:  # plugins were loaded before the flag was parsed: show their failures now
        from unlearn_cli import plugins

        if plugins._REGISTRY is not None and not plugins._debug():  # (the env var showed them)
            plugins.show_failure_tracebacks(plugins._REGISTRY)


def _click():
    try:
        from typer import _click as click  # recent Typer vendors Click
    except ImportError:  # pragma: no cover - older Typer depends on Click
        import click
    return click


class OneLineErrors(TyperGroup):
    """Usage errors (an unknown command or option, a value of the wrong type) leave as one
    ``error:`` line with exit code 2, like every other error, not as Click's usage box."""

    def format_help(self, ctx, formatter) -> None:
        # `gan-unlearn --help` is plain text: importing Typer's rich help renderer alone takes
        # ~0.19 s of the 0.3 s start-up budget (docs/performance.md); commands' help stays rich
        super(TyperGroup, self).format_help(ctx, formatter)

    def format_commands(self, ctx, formatter) -> None:
        """Built-in commands, then plugin commands in a section of their own."""
        sections: dict[str, list[tuple[str, str]]] = {"Commands": [], PLUGIN_PANEL: []}
        for name in self.list_commands(ctx):
            cmd = self.get_command(ctx, name)
            if cmd is None or cmd.hidden:
                continue
            panel = PLUGIN_PANEL if getattr(cmd, "rich_help_panel", None) == PLUGIN_PANEL else "Commands"
            sections[panel].append((name, cmd.get_short_help_str(limit=200)))
        for title, rows in sections.items():
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)

    def main(self, *args, standalone_mode: bool = True, **kwargs):
        if not standalone_mode:
            return super().main(*args, standalone_mode=False, **kwargs)
        click = _click()
        try:
            code = super().main(*args, standalone_mode=False, **kwargs)
        except click.exceptions.ClickException as exc:
            if type(exc).__name__ != "NoArgsIsHelpError":  # (that one has shown the help)
                ctx = getattr(exc, "ctx", None)
                hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
                common.error_exit(exc.format_message() + hint)
            sys.exit(exc.exit_code)
        except typer.Abort:  # (vendored Click keeps Abort in typer, not in its exceptions)
            common.error_exit("aborted")
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)


def create_app(with_plugins: bool = True) -> typer.Typer:
    import importlib

    app = typer.Typer(cls=OneLineErrors, no_args_is_help=True, pretty_exceptions_enable=False,
                      add_completion=False, rich_markup_mode="rich")
    app.callback()(_root)
    for name, module, attr in BUILTIN_COMMANDS:
        fn = getattr(importlib.import_module(module), attr)
        # a command may bring its own help class (run: the installed components and their options)
        app.command(name, cls=getattr(fn, "command_class", None))(common.guarded(fn))
    if with_plugins:
        _add_plugin_commands(app)
    return app


def _command_name(info) -> str:
    if info.name:
        return info.name
    return info.callback.__name__.lower().replace("_", "-")


def _add_plugin_commands(app: typer.Typer) -> None:
    """Let plugins add commands; a name that is already taken is not added.

    Each plugin's hook is called on its own, so what it added is known to be its own: the
    registry records every command with its plugin, and a refused one is reported by
    ``list-plugins`` (not by every command that happens to run).
    """
    from unlearn_cli.plugins import PluginCommand, call_hook, get_registry

    taken = {_command_name(c) for c in app.registered_commands}
    registry = get_registry()
    registry.commands = []  # a fresh app (tests build several) records its own
    before = len(app.registered_commands)

    def take(info, _result) -> None:
        nonlocal before
        added = app.registered_commands[before:]
        del app.registered_commands[before:]
        for cmd in added:
            name = _command_name(cmd)
            summary = ((cmd.help or (cmd.callback.__doc__ if cmd.callback else "") or "")
                       .strip().split("\n")[0])
            record = PluginCommand(name, summary, info)
            registry.commands.append(record)
            if name in taken:
                record.refused = "which already exists"
                continue
            taken.add(name)
            cmd.rich_help_panel = PLUGIN_PANEL
            cmd.callback = common.guarded(cmd.callback)
            app.registered_commands.append(cmd)
        before = len(app.registered_commands)

    call_hook(registry, "register_commands", each=take, app=app)


def main() -> None:
    if not isinstance(sys.stdout, common.TolerantStdout) and sys.stdout is not None:
        sys.stdout = common.TolerantStdout(sys.stdout)  # a full or closed stdout stops nothing
    from unlearn_cli.engine import interrupts

    # from the first moment: a Ctrl-C while plugins load is the user's, not a plugin failure
    with interrupts.handling():
        try:
            app = create_app()
        except KeyboardInterrupt:
            common.error_exit("interrupted")
            sys.exit(130)
        _run_app(app)


def _run_app(app) -> None:
    try:
        app(prog_name="gan-unlearn")
    except SystemExit as done:
        failure = common.stdout_failure()
        if failure is None or (done.code not in (0, None)):
            raise
        common.error_exit(failure)
        sys.exit(1)
