"""What every command shares: clean error handling, the debug switch, console output.

Commands stay thin: they parse options, call the core, print. Errors the user can fix arrive as
UnlearnError and leave as one line on stderr with exit code 1; usage errors exit 2 (Typer);
anything unexpected is one line too, unless --debug or GAN_UNLEARN_DEBUG=1 asks for the traceback.
"""
from __future__ import annotations

import functools
import os
import sys
from typing import Callable

import typer

from unlearn_cli.errors import UnlearnError
from unlearn_cli.safe_text import for_rich, visible  # noqa: F401  (commands import them here)

_state = {"debug": False}


def debug_enabled() -> bool:
    return _state["debug"] or os.environ.get("GAN_UNLEARN_DEBUG", "") not in ("", "0")


def set_debug(value: bool) -> None:
    _state["debug"] = value


def one_line(text: str) -> str:
    """One line, with every control character or escape sequence shown visibly (a file name
    or a stranger's metadata inside a message must not drive the terminal)."""
    return visible(" ".join(str(text).split()))


def error_exit(message: str, code: int = 1) -> typer.Exit:
    sys.stderr.write(f"error: {one_line(message)}\n")
    sys.stderr.flush()
    return typer.Exit(code)


def warn(message: str) -> None:
    sys.stderr.write(f"warning: {one_line(message)}\n")


def guarded(fn: Callable) -> Callable:
    """Wrap a command so domain errors become one-line messages with the right exit code."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        # Ctrl-C and SIGTERM alike, for every command (engine/interrupts.py): temporary files
        # are removed, a training step is never cut in half
        from unlearn_cli.engine import interrupts

        with interrupts.handling():
            result = _guarded_call(fn, args, kwargs)
            if interrupts.pending() is not None:  # a signal something swallowed: still honoured
                raise error_exit("interrupted", 130)
            return result

    return wrapper


def _guarded_call(fn: Callable, args, kwargs):
    from unlearn_cli.engine import interrupts

    try:
        return fn(*args, **kwargs)
    except (typer.Exit, typer.Abort, SystemExit):
        raise
    except UnlearnError as exc:
        if debug_enabled():
            raise
        if interrupts.pending() is not None and getattr(exc, "exit_code", 1) != 130:
            # the signal surfaced as some loader's error: never blame a good file
            raise error_exit("interrupted", 130) from None
        raise error_exit(str(exc), getattr(exc, "exit_code", 1)) from None
    except BrokenPipeError:  # `gan-unlearn ... | head`: the reader left, nothing to report
        import os

        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        raise typer.Exit(0) from None
    except KeyboardInterrupt:
        if debug_enabled():
            raise
        raise error_exit("interrupted", 130) from None
    except Exception as exc:  # a bug: still one line, the traceback on request
        if debug_enabled():
            raise
        if interrupts.pending() is not None:
            raise error_exit("interrupted", 130) from None
        raise error_exit(f"internal error: {type(exc).__name__}: {exc} (rerun with --debug "
                         f"for the traceback and report it)") from None


def print_json(data) -> None:
    """JSON only, on stdout (no rich markup, so machines can parse it)."""
    import json

    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")
