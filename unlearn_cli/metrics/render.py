"""Sections of blocks -> Markdown (images linked) or one self-contained HTML page (images inline).

A report is a list of (heading, blocks); a block is a table, an image file (relative to the
report's folder), a paragraph, a bullet list or a code listing. The first section's table is the
headline: in HTML it is drawn large.
"""
from __future__ import annotations

import base64
import html
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;margin:24px auto;
padding:0 16px;color:#222;line-height:1.45}
h1{font-size:1.5em;margin-bottom:4px}h2{font-size:1.2em;border-bottom:1px solid #ddd;padding-bottom:4px;margin-top:32px}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ddd;padding:4px 10px;text-align:left;vertical-align:top}
th{background:#f4f4f4}table.headline td{font-size:1.15em;padding:8px 14px}table.headline td:first-child{font-weight:600}
figure{margin:12px 0}figure img{max-width:100%;image-rendering:pixelated;border:1px solid #eee}
figcaption{color:#555;font-size:.9em}pre{background:#f7f7f7;padding:10px;overflow:auto;font-size:.85em}
.warn li{color:#8a4b00}
"""


@dataclass
class Block:
    kind: str  # table | image | text | list | code
    content: Any
    caption: str = ""
    header: tuple[str, ...] = ()


def _md_cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def render_markdown(title: str, sections: list[tuple[str, list[Block]]]) -> str:
    lines = [f"# {title}", ""]
    for heading, blocks in sections:
        lines += [f"## {heading}", ""]
        for block in blocks:
            if block.kind == "table":
                header = block.header or ("",) * len(block.content[0])
                lines.append("| " + " | ".join(_md_cell(h) for h in header) + " |")
                lines.append("|" + "---|" * len(header))
                lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in block.content]
            elif block.kind == "image":
                lines.append(f"![{Path(block.content).stem}]({block.content})")
                if block.caption:
                    lines += ["", f"*{block.caption}*"]
            elif block.kind == "list":
                lines += [f"- {item}" for item in block.content]
            elif block.kind == "code":
                lines += ["```yaml", block.content.rstrip("\n"), "```"]
            else:
                lines.append(str(block.content))
            lines.append("")
    return "\n".join(lines)


def data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _display_width(path: Path, at_least: int = 360) -> str:
    """Small grids (e.g. 16 px samples) are shown enlarged by a whole factor, pixels kept sharp."""
    from PIL import Image

    with Image.open(path) as img:
        width = img.width
    factor = -(-at_least // max(width, 1))
    return f' width="{width * factor}"' if factor > 1 else ""


def _html_block(block: Block, folder: Path, headline: bool) -> str:
    esc = html.escape
    if block.kind == "table":
        cls = ' class="headline"' if headline else ""
        head = ""
        if block.header and any(block.header):
            head = "<tr>" + "".join(f"<th>{esc(str(h))}</th>" for h in block.header) + "</tr>"
        body = "".join("<tr>" + "".join(f"<td>{esc(str(c))}</td>" for c in row) + "</tr>"
                       for row in block.content)
        return f"<table{cls}>{head}{body}</table>"
    if block.kind == "image":
        path = folder / block.content
        if not path.is_file():
            return f"<p>({esc(block.content)} is missing)</p>"
        return (f'<figure><img src="{data_uri(path)}"{_display_width(path)} '
                f'alt="{esc(block.caption or block.content)}">'
                f"<figcaption>{esc(block.caption)}</figcaption></figure>")
    if block.kind == "list":
        return '<ul class="warn">' + "".join(f"<li>{esc(str(i))}</li>" for i in block.content) + "</ul>"
    if block.kind == "code":
        return f"<pre>{esc(block.content)}</pre>"
    return f"<p>{esc(str(block.content))}</p>"


def render_html(title: str, sections: list[tuple[str, list[Block]]], folder: Path) -> str:
    """One page with every image inline as a data URI: it can be mailed or archived alone."""
    parts = [f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
             f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
             f"<h1>{html.escape(title)}</h1>"]
    for index, (heading, blocks) in enumerate(sections):
        parts.append(f"<h2>{html.escape(heading)}</h2>")
        parts += [_html_block(b, folder, headline=index == 0) for b in blocks]
    parts.append("</body></html>\n")
    return "\n".join(parts)
