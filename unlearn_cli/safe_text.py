"""Text from strangers made safe to print (issue 19.11).

File names, model metadata and plugin messages can hold terminal escape sequences (which would
move the cursor, recolour or retitle the user's terminal), bidirectional overrides (which make
text read differently from what it is), bytes that are not UTF-8 (Python keeps them as lone
surrogates, which crash a UTF-8 stream) and rich markup such as ``[/]`` (which makes rich raise).

:func:`visible` shows every such character as a visible escape (``\\x1b``, ``\\u202e``); a
non-UTF-8 byte of a file name shows as ``\\xNN``. :func:`for_rich` also escapes rich markup.
Everything printed from a file or a file name goes through one of them: error and warning
lines (cli/common.py), ``info``, ``list-plugins``.
"""
from __future__ import annotations

import re

# C0 and C1 controls, DEL, zero-width and bidirectional formatting characters, lone surrogates
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff"
                     "\ud800-\udfff]")


def _escape(match: re.Match) -> str:
    code = ord(match.group())
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8 (os.fsdecode's surrogateescape)
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible(text) -> str:
    """``text`` with control, formatting and undecodable characters shown as escapes."""
    return _UNSAFE.sub(_escape, str(text))


def for_rich(text) -> str:
    """:func:`visible`, with rich markup escaped too (for rich tables and consoles)."""
    from rich.markup import escape

    return escape(visible(text))
