"""Reading a YAML config file with bounds on what a small hostile file can cost (issue 19.20, 23).

- Only a regular file of at most 1 MiB is read (``--config /dev/zero`` or a FIFO would never end).
- Nesting deeper than :data:`MAX_DEPTH` is refused while parsing (not by a RecursionError).
- Aliases: a 700-byte "billion laughs" file builds a tree of shared references whose expansion
  has 10**9 nodes; walking it (validation, an error message) would take minutes and gigabytes.
  The expanded size is counted up to :data:`MAX_NODES` and a larger tree refused.
- A key given twice in one mapping is refused: PyYAML would silently keep the last one.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from unlearn_cli.errors import UnlearnError
from unlearn_cli.io.readable import read_limited_text

MAX_DEPTH = 64
MAX_NODES = 100_000


class _Refused(Exception):
    def __init__(self, reason: str, line: int | None = None):
        super().__init__(reason)
        self.reason, self.line = reason, line


def _loader_class():
    import yaml

    class BoundedLoader(yaml.SafeLoader):
        """SafeLoader with a depth limit and duplicate keys refused."""

        _depth = 0

        def compose_node(self, parent, index):
            self._depth += 1
            try:
                if self._depth > MAX_DEPTH:
                    mark = self.peek_event().start_mark
                    raise _Refused(f"it is nested more than {MAX_DEPTH} levels deep", mark.line + 1)
                return super().compose_node(parent, index)
            finally:
                self._depth -= 1

        def construct_mapping(self, node, deep=False):
            seen = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=True)
                try:
                    duplicate = key in seen
                    seen.add(key)
                except TypeError:  # an unhashable key: the base class says so
                    break
                if duplicate:
                    raise _Refused(f"the key '{str(key)[:60]}' is given twice in one mapping "
                                   f"(keep one)", key_node.start_mark.line + 1)
            return super().construct_mapping(node, deep=deep)

    return BoundedLoader


def _expanded_size(data: Any, limit: int) -> int:
    """Nodes of ``data`` counted as if every shared reference were a copy, stopping past
    ``limit`` (so the count costs at most ``limit`` steps whatever the expansion)."""
    count, stack = 0, [data]
    while stack:
        item = stack.pop()
        count += 1
        if count > limit:
            return count
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, (list, tuple, set)):
            stack.extend(item)
    return count


def load_config_yaml(path: str | Path) -> dict[str, Any]:
    """The mapping a YAML config file holds; every problem is a one-line UnlearnError."""
    import yaml

    path = Path(path)
    if not path.exists() and not path.is_symlink():
        raise UnlearnError(f"config file not found: {path}")
    text = read_limited_text(path, "config file")
    try:
        data = yaml.load(text, Loader=_loader_class())  # noqa: S506 (a SafeLoader subclass)
    except _Refused as exc:
        where = f" at line {exc.line}" if exc.line else ""
        raise UnlearnError(f"config file {path} is refused{where}: {exc.reason}") from None
    except RecursionError:
        raise UnlearnError(f"config file {path} is refused: it is nested too deeply") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise UnlearnError(f"config file {path} is not valid YAML{where}; fix the syntax") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UnlearnError(f"config file {path} must hold a mapping of option: value")
    if _expanded_size(data, MAX_NODES) > MAX_NODES:
        raise UnlearnError(f"config file {path} is refused: its aliases (*name) expand to more "
                           f"than {MAX_NODES:,} values; write the values out")
    return data
