"""Ctrl-C and SIGTERM, handled the same way by every command.

A signal must never cut a training step in half (the stage checkpoint would hold a half-finished
step, and the resumed run would differ from an uninterrupted one), and a second signal must never
cut short the saving or clean-up that the first one started. So:

* inside ``deferred()`` (the training loop) a signal only sets a flag; the loop checks
  ``pending()`` between steps and stops there;
* outside it, the first signal raises KeyboardInterrupt where the program is (loading a model,
  collecting samples: work that is simply redone);
* any later signal is only recorded: clean-up and checkpoint saving run to their end (SIGKILL is
  still there for a hard stop).

``pending()`` stays set, so code that swallowed the KeyboardInterrupt by accident (a C extension,
a loader's ``except Exception``) is caught at the next check (``raise_if_pending``) and errors are
reported as an interruption, never as a damaged file.
"""
from __future__ import annotations

import contextlib
import signal
from typing import Iterator

_state = {"signal": None, "deferring": 0, "installed": 0}


def _handler(signum, frame) -> None:
    first = _state["signal"] is None
    if first:
        _state["signal"] = signum
    if first and not _state["deferring"]:
        raise KeyboardInterrupt


def pending() -> int | None:
    """The first signal received while installed (SIGINT or SIGTERM), or None."""
    return _state["signal"]


def raise_if_pending() -> None:
    if _state["signal"] is not None:
        raise KeyboardInterrupt


@contextlib.contextmanager
def handling() -> Iterator[None]:
    """Install the handler for SIGINT and SIGTERM for the duration of a command."""
    try:
        previous = {s: signal.signal(s, _handler) for s in (signal.SIGINT, signal.SIGTERM)}
    except ValueError:  # not the main thread (some test runners): leave signals alone
        yield
        return
    _state["installed"] += 1
    if _state["installed"] == 1:
        _state["signal"] = None
    try:
        yield
    finally:
        _state["installed"] -= 1
        for sig, old in previous.items():
            signal.signal(sig, old)
        if not _state["installed"]:
            _state["signal"] = None


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Signals only set the flag here; the code inside checks ``pending()`` where it can stop."""
    _state["deferring"] += 1
    try:
        yield
    finally:
        _state["deferring"] -= 1
