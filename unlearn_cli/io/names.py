"""Output names the file system can hold (issue 19.12), checked before any work.

A name that is not valid UTF-8 (Python keeps its undecodable bytes as lone surrogates) cannot
be recorded in config.yaml, metrics.json or the report faithfully; a name longer than the file
system allows (NAME_MAX bytes per component, usually 255; PATH_MAX in all) would fail only when
the first file is written. Both are refused in one line naming the option.
"""
from __future__ import annotations

import os
from pathlib import Path


def _limit(path: Path, name: str, default: int) -> int:
    """pathconf of the nearest existing folder above ``path``."""
    for folder in path.parents:  # (the path itself may be too long even to look at)
        try:
            if folder.is_dir():
                return os.pathconf(folder, name)
        except (OSError, ValueError):
            continue
    return default


def name_problem(value: str) -> str:
    """Why ``value`` cannot name an output ("" when it can)."""
    from unlearn_cli.safe_text import visible

    try:
        encoded = value.encode("utf-8")
    except UnicodeEncodeError:
        return f"'{visible(value)}' is not valid UTF-8; choose a name of UTF-8 characters"
    path = Path(value)
    name_max = _limit(path.absolute(), "PC_NAME_MAX", 255)
    path_max = _limit(path.absolute(), "PC_PATH_MAX", 4096)
    for part in path.parts:
        size = len(part.encode("utf-8"))
        if size > name_max:
            return (f"the name '{visible(part[:40])}...' is {size} bytes, longer than the "
                    f"{name_max} the file system allows; choose a shorter name")
    if len(os.fsencode(str(path.absolute()))) >= path_max or len(encoded) >= path_max:
        return f"the path is longer than the {path_max} bytes the file system allows"
    return ""
