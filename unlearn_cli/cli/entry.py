"""The `gan-unlearn` console script: a Ctrl-C or SIGTERM from the very first moment is answered
in one line (exit 130), never with a traceback from the middle of an import.

Importing the CLI (typer, rich, the plugins) takes a moment; a signal then would otherwise show
Python's KeyboardInterrupt traceback (SIGINT) or end the process unannounced (SIGTERM). Once the
CLI is imported, unlearn_cli/engine/interrupts.py takes over.
"""
import signal
import sys


def _early(signum, frame):
    raise KeyboardInterrupt


def main() -> None:
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _early)
    try:
        from unlearn_cli.cli.main import main as cli_main

        cli_main()  # (it answers signals itself; this catches one in the moment before it does)
    except KeyboardInterrupt:
        sys.stderr.write("error: interrupted\n")
        sys.exit(130)
