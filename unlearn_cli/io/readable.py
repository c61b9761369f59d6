"""Checks every reader runs before it opens a user's file (issue 19.6, 8, 20).

- Only regular files are opened: a FIFO blocks the reader forever, a device such as /dev/zero
  never ends, a socket cannot be opened at all. Each is refused in one line saying what it is.
- Permission denied is said as such, with the path (not "damaged" or an internal error).
- Text inputs (YAML configs, picks files) are read up to a size limit, so a huge or endless
  file costs at most that much memory.
"""
from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from unlearn_cli.errors import UnlearnError

#: the largest config or picks file read (1 MiB: real ones are a few hundred bytes)
MAX_TEXT_BYTES = 1 << 20


def kind_of(mode: int) -> str:
    """What a non-regular file is, in words."""
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISDIR(mode):
        return "a folder"
    return "not a regular file"


def permission_denied(path, what: str = "file") -> UnlearnError:
    return UnlearnError(f"{what} '{path}': permission denied; make it readable "
                        f"(chmod u+r) or pass another file")


def check_readable(path: str | os.PathLike, what: str = "file") -> Path:
    """``path`` if it is a regular file this process may read; else a one-line UnlearnError
    (missing, a FIFO/device/socket/folder, permission denied). Never blocks."""
    path = Path(path)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise UnlearnError(f"{what} '{path}' does not exist; check the path") from None
    except PermissionError:
        raise permission_denied(path, what) from None
    except OSError as exc:
        raise UnlearnError(f"{what} '{path}' cannot be read: {exc.strerror or exc}") from None
    if not stat.S_ISREG(mode):
        raise UnlearnError(f"{what} '{path}' is {kind_of(mode)}, not a regular file; "
                           f"pass a file")
    try:  # O_NONBLOCK: were it swapped for a FIFO since the stat, opening still returns
        os.close(os.open(path, os.O_RDONLY | os.O_NONBLOCK))
    except PermissionError:
        raise permission_denied(path, what) from None
    except OSError as exc:
        if exc.errno == errno.EACCES:
            raise permission_denied(path, what) from None
        raise UnlearnError(f"{what} '{path}' cannot be read: {exc.strerror or exc}") from None
    return path


def read_limited_text(path: str | os.PathLike, what: str = "file",
                      limit: int = MAX_TEXT_BYTES) -> str:
    """A small text file's contents (UTF-8), refusing non-regular files and anything larger
    than ``limit`` bytes in one line."""
    path = check_readable(path, what)
    try:
        with open(path, "rb") as handle:
            data = handle.read(limit + 1)
    except PermissionError:
        raise permission_denied(path, what) from None
    except OSError as exc:
        raise UnlearnError(f"{what} '{path}' cannot be read: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise UnlearnError(f"{what} '{path}' is larger than {limit // 1024} KiB; such files "
                           f"are a few hundred bytes: pass the right file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UnlearnError(f"cannot read {what} {path}: 'utf-8' codec can't decode byte "
                           f"{exc.start}: not UTF-8 text; save it as UTF-8") from None
