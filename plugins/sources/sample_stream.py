"""The manual source's candidates: one numbered, seeded stream of generated samples.

Sample number k (1-based, the number shown on the grid and in the browser) is always the same
image for a given model and seed, however many samples were asked for before: the stream is
made of fixed-size blocks, block b generated alone from its own seed, and sample k is entry
(k - 1) % block of block (k - 1) // block. Asking for 64 samples or for 640 therefore shows the
same first 64, and the terminal grid, the browser page and a later run from a picks file all
mean the same images by the same numbers.
"""
from __future__ import annotations

import io
import threading

from unlearn_cli.api import SourceContext

from . import common


class SampleStream:
    def __init__(self, context: SourceContext, seed: int, stream: int = common.STREAM_GRID):
        self.context, self.seed, self.stream = context, seed, stream
        # at most GRID_MAX (the old grid was one chunk of 64), fewer for large images
        self.block = max(1, min(common.GRID_MAX, common.chunk_size(context)))
        self._lock = threading.Lock()  # the page's server asks from several threads
        self._thumbnails: dict[int, bytes] = {}

    def _block(self, index: int):
        with self._lock:
            import torch

            with torch.no_grad():
                images = self.context.generate(self.block, common.stream_seed(self.seed, self.stream, index))
            return images.detach().to("cpu", torch.float32)

    def first(self, n: int):
        """Samples 1..n as one float32 CPU tensor [n, C, H, W]."""
        import torch

        if n <= 0:
            return common.empty(self.context)
        blocks = [self._block(b) for b in range((n + self.block - 1) // self.block)]
        return torch.cat(blocks)[:n]

    def thumbnail(self, number: int) -> bytes:
        """PNG bytes of sample ``number`` (1-based), shrunk to at most 256 px a side.

        A whole block is rendered at once and kept (a few kB per sample), so paging back and
        forth in the browser generates nothing twice.
        """
        if number not in self._thumbnails:
            from PIL import Image

            from unlearn_cli.api import to_uint8

            index = (number - 1) // self.block
            cells = to_uint8(common.preview(self._block(index)))
            for offset, cell in enumerate(cells):
                img = Image.fromarray(cell[..., 0], "L") if cell.shape[-1] == 1 else Image.fromarray(cell, "RGB")
                buffer = io.BytesIO()
                img.save(buffer, format="PNG")
                self._thumbnails[index * self.block + offset + 1] = buffer.getvalue()
        return self._thumbnails[number]
