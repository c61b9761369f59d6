"""Small charts drawn with Pillow (no plotting library): line charts, grouped bars, image grids.

Each function returns a ``PIL.Image`` (RGB); callers save it. Inputs may hold NaN or infinite
values (they are skipped), a single point, or constant values: the charts still draw.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

PALETTE = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
           (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207)]
INK, GRID, PAPER = (40, 40, 40), (225, 225, 225), (255, 255, 255)
TARGET_FRAME, OTHER_FRAME = (220, 30, 30), (200, 200, 200)


def font(size: int = 13):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def text_size(draw: ImageDraw.ImageDraw, text: str, fnt) -> tuple[int, int]:
    box = draw.textbbox((0, 0), text, font=fnt)
    return box[2] - box[0], box[3] - box[1]


def fmt(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 1e4 or abs(value) < 1e-3:
        return f"{value:.1e}"
    return f"{value:.4g}"


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values covering [lo, hi] (1, 2, 5 times a power of ten apart)."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return [0.0]
    if hi <= lo:
        pad = abs(lo) * 0.1 or 1.0
        lo, hi = lo - pad, hi + pad
    raw = (hi - lo) / max(count - 1, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.floor(lo / step) * step
    ticks = [round(first, 12)]
    while ticks[-1] < hi and len(ticks) < 50:  # the last tick covers hi
        ticks.append(round(first + len(ticks) * step, 12))
    return ticks


def _finite(xs: Sequence[float], ys: Sequence[float]) -> list[tuple[float, float]]:
    return [(float(x), float(y)) for x, y in zip(xs, ys)
            if x is not None and y is not None and math.isfinite(x) and math.isfinite(y)]


def line_chart(series: dict[str, tuple[Sequence[float], Sequence[float]]], title: str,
               xlabel: str = "step", ylabel: str = "", size: tuple[int, int] = (560, 300)) -> Image.Image:
    """One line per series (name -> (xs, ys)), with axes, ticks, grid and a legend."""
    width, height = size
    img = Image.new("RGB", size, PAPER)
    draw = ImageDraw.Draw(img)
    small, big = font(12), font(14)
    points = {name: _finite(xs, ys) for name, (xs, ys) in series.items()}
    points = {name: p for name, p in points.items() if p}
    left, right, top, bottom = 64, 16, 30, 40
    draw.text((left, 8), title, fill=INK, font=big)
    if not points:
        draw.text((left, height // 2), "no data", fill=INK, font=small)
        return img
    legend_w = max(text_size(draw, name, small)[0] for name in points) + 30
    right += legend_w
    xs = [x for p in points.values() for x, _ in p]
    ys = [y for p in points.values() for _, y in p]
    xt, yt = nice_ticks(min(xs), max(xs)), nice_ticks(min(ys), max(ys))
    x0, x1, y0, y1 = xt[0], xt[-1], yt[0], yt[-1]
    pw, ph = width - left - right, height - top - bottom

    def at(x: float, y: float) -> tuple[float, float]:
        return left + (x - x0) / (x1 - x0) * pw, top + ph - (y - y0) / (y1 - y0) * ph

    for y in yt:
        _, py = at(x0, y)
        draw.line([(left, py), (left + pw, py)], fill=GRID)
        label = fmt(y)
        tw, th = text_size(draw, label, small)
        draw.text((left - tw - 6, py - th / 2 - 2), label, fill=INK, font=small)
    for x in xt:
        px, _ = at(x, y0)
        draw.line([(px, top), (px, top + ph)], fill=GRID)
        label = fmt(x)
        tw, _ = text_size(draw, label, small)
        draw.text((px - tw / 2, top + ph + 4), label, fill=INK, font=small)
    draw.rectangle([left, top, left + pw, top + ph], outline=INK)
    tw, _ = text_size(draw, xlabel, small)
    draw.text((left + pw / 2 - tw / 2, height - 18), xlabel, fill=INK, font=small)
    if ylabel:
        draw.text((4, top - 16), ylabel, fill=INK, font=small)
    for i, (name, pts) in enumerate(points.items()):
        colour = PALETTE[i % len(PALETTE)]
        xy = [at(x, y) for x, y in sorted(pts)]
        if len(xy) > 1:
            draw.line(xy, fill=colour, width=2)
        for px, py in xy if len(xy) <= 40 else xy[-1:]:
            draw.ellipse([px - 2.5, py - 2.5, px + 2.5, py + 2.5], fill=colour)
        ly = top + 4 + i * 18
        draw.line([(width - legend_w, ly + 7), (width - legend_w + 18, ly + 7)], fill=colour, width=3)
        draw.text((width - legend_w + 24, ly), name, fill=INK, font=small)
    return img


def bar_chart(categories: Sequence[str], groups: dict[str, Sequence[float]], title: str,
              highlight: str | None = None, size: tuple[int, int] = (560, 280)) -> Image.Image:
    """Grouped bars: for each category one bar per group (e.g. class shares before and after)."""
    width, height = size
    img = Image.new("RGB", size, PAPER)
    draw = ImageDraw.Draw(img)
    small, big = font(12), font(14)
    left, right, top, bottom = 56, 16, 30, 40
    draw.text((left, 8), title, fill=INK, font=big)
    values = [v for vals in groups.values() for v in vals if math.isfinite(v)]
    if not categories or not values:
        draw.text((left, height // 2), "no data", fill=INK, font=small)
        return img
    legend_w = max(text_size(draw, name, small)[0] for name in groups) + 30
    right += legend_w
    ticks = nice_ticks(0.0, max(max(values), 1e-9))
    top_value = ticks[-1]
    pw, ph = width - left - right, height - top - bottom
    for t in ticks:
        py = top + ph - t / top_value * ph
        draw.line([(left, py), (left + pw, py)], fill=GRID)
        label = fmt(t)
        tw, th = text_size(draw, label, small)
        draw.text((left - tw - 6, py - th / 2 - 2), label, fill=INK, font=small)
    slot = pw / len(categories)
    bar = slot * 0.8 / max(len(groups), 1)
    for c, name in enumerate(categories):
        for g, vals in enumerate(groups.values()):
            value = vals[c] if c < len(vals) and math.isfinite(vals[c]) else 0.0
            x = left + c * slot + slot * 0.1 + g * bar
            draw.rectangle([x, top + ph - value / top_value * ph, x + bar - 1, top + ph],
                           fill=PALETTE[g % len(PALETTE)])
        tw, _ = text_size(draw, name, small)
        marked = [highlight] if isinstance(highlight, str) else (highlight or [])  # one or several
        colour = TARGET_FRAME if name in marked else INK
        draw.text((left + c * slot + slot / 2 - tw / 2, top + ph + 4), name, fill=colour, font=small)
    draw.rectangle([left, top, left + pw, top + ph], outline=INK)
    for g, name in enumerate(groups):
        ly = top + 4 + g * 18
        draw.rectangle([width - legend_w, ly + 2, width - legend_w + 14, ly + 12], fill=PALETTE[g % len(PALETTE)])
        draw.text((width - legend_w + 22, ly), name, fill=INK, font=small)
    return img


def framed_grid(cells: np.ndarray, flags: Sequence[bool] | None = None, nrow: int = 8,
                min_cell: int = 48, max_cell: int = 128, frame: int = 2) -> Image.Image:
    """uint8 images [N, H, W, C] in a grid, flagged ones framed red. Small cells are enlarged
    (nearest neighbour) to min_cell px, large ones shrunk (Lanczos) to max_cell px."""
    n, h, w, c = cells.shape
    if c == 1:
        cells = np.repeat(cells, 3, axis=3)
    if max(h, w) > max_cell:
        size = (max(1, w * max_cell // max(h, w)), max(1, h * max_cell // max(h, w)))
        cells = np.stack([np.asarray(Image.fromarray(cell).resize(size, Image.Resampling.LANCZOS))
                          for cell in cells])
        h, w = size[1], size[0]
    factor = max(1, math.ceil(min_cell / max(1, min(h, w))))
    cells = cells.repeat(factor, axis=1).repeat(factor, axis=2)
    h, w = h * factor, w * factor
    nrow = max(1, min(n, nrow))
    rows = math.ceil(n / nrow)
    step_y, step_x = h + 2 * frame + 2, w + 2 * frame + 2
    grid = np.full((rows * step_y + 2, nrow * step_x + 2, 3), 255, dtype=np.uint8)
    for i in range(n):
        y, x = 2 + (i // nrow) * step_y, 2 + (i % nrow) * step_x
        colour = TARGET_FRAME if flags is not None and flags[i] else OTHER_FRAME
        grid[y:y + h + 2 * frame, x:x + w + 2 * frame] = colour
        grid[y + frame:y + frame + h, x + frame:x + frame + w] = cells[i]
    return Image.fromarray(grid, "RGB")


def side_by_side(panels: Sequence[tuple[str, Image.Image]], gap: int = 24) -> Image.Image:
    """Images next to each other, each under its caption."""
    fnt = font(16)
    head = 28
    width = sum(img.width for _, img in panels) + gap * (len(panels) - 1)
    height = head + max(img.height for _, img in panels)
    out = Image.new("RGB", (width, height), PAPER)
    draw = ImageDraw.Draw(out)
    x = 0
    for caption, img in panels:
        draw.text((x + 2, 4), caption, fill=INK, font=fnt)
        out.paste(img, (x, head))
        x += img.width + gap
    return out


def stack(images: Sequence[Image.Image], columns: int = 2, gap: int = 8) -> Image.Image:
    """Images in a grid of ``columns``, row by row (charts of equal size look best)."""
    if not images:
        raise ValueError("nothing to stack")
    columns = max(1, min(columns, len(images)))
    rows = math.ceil(len(images) / columns)
    cw, ch = max(i.width for i in images), max(i.height for i in images)
    out = Image.new("RGB", (columns * cw + gap * (columns - 1), rows * ch + gap * (rows - 1)), PAPER)
    for k, img in enumerate(images):
        out.paste(img, ((k % columns) * (cw + gap), (k // columns) * (ch + gap)))
    return out
