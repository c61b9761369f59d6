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
    except OSError as exc:
        if debug_enabled():
            raise
        if interrupts.pending() is not None:
            raise error_exit("interrupted", 130) from None
        raise error_exit(os_error_line(exc)) from None
    except Exception as exc:  # a bug: still one line, the traceback on request
        if debug_enabled():
            raise
        if interrupts.pending() is not None:
            raise error_exit("interrupted", 130) from None
        if isinstance(exc, UnicodeEncodeError) and "surrogates" in str(exc):
            raise error_exit("a file or folder name is not valid UTF-8; choose a name of UTF-8 "
                             "characters") from None
        raise error_exit(f"internal error: {type(exc).__name__}: {exc} (rerun with --debug "
                         f"for the traceback and report it)") from None


#: what the file system says about a name or a disk, said in one line as the user's problem
_USER_ERRNOS = {"ENAMETOOLONG": "choose a shorter name", "ENOSPC": "free space and try again",
                "EDQUOT": "free space and try again", "EROFS": "write somewhere writable",
                "EACCES": "check the permissions", "EPERM": "check the permissions",
                "EILSEQ": "choose a name of UTF-8 characters"}


def os_error_line(exc: OSError) -> str:
    """One line for an OSError that reached a command: the path and what to do for the file
    system's own refusals (a name too long, a full or read-only disk); an internal error
    otherwise."""
    import errno

    name = errno.errorcode.get(exc.errno or 0, "")
    if name in _USER_ERRNOS:
        where = f" '{exc.filename}'" if exc.filename else ""
        return f"cannot use{where}: {exc.strerror or name}; {_USER_ERRNOS[name]}"
    return (f"internal error: {type(exc).__name__}: {exc} (rerun with --debug for the "
            f"traceback and report it)")


class TolerantStdout:
    """sys.stdout that never stops a command: a failed write (``> /dev/full``, a detached
    terminal, a closed pipe) is remembered and the rest of the output dropped, while the work
    (training, the files it writes) goes on; :func:`stdout_failure` then gives the one error
    line the command ends with (issue 19.12)."""

    def __init__(self, inner):
        self._inner, self.error = inner, None

    def _fail(self, exc: OSError) -> None:
        if self.error is not None:
            return
        self.error = exc
        try:  # what is still buffered goes nowhere, so the flush at exit cannot fail again
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self._inner.fileno())
            os.close(devnull)
        except (OSError, ValueError, AttributeError):
            pass

    def write(self, text):
        if self.error is not None:
            return len(text)
        try:
            return self._inner.write(text)
        except OSError as exc:
            self._fail(exc)
            return len(text)

    def flush(self):
        if self.error is not None:
            return
        try:
            self._inner.flush()
        except OSError as exc:
            self._fail(exc)

    def __getattr__(self, name):
        return getattr(self._inner, name)


def stdout_failure() -> str | None:
    """The error line for a stdout that could not be written (flushed first), else None. A
    reader that left (a broken pipe, ``| head``) is no error."""
    stream = sys.stdout
    if not isinstance(stream, TolerantStdout):
        return None
    stream.flush()
    exc = stream.error
    if exc is None or isinstance(exc, BrokenPipeError):
        return None
    return (f"standard output could not be written ({exc.strerror or exc}): what the command "
            f"printed is lost; the files it writes were written")


def print_json(data) -> None:
    """JSON only, on stdout (no rich markup, so machines can parse it)."""
    import json

    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")
