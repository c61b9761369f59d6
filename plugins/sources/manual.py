"""The `manual` source: the user picks the undesired samples on a numbered grid.

The grid (at most 64 samples) is saved as manual_grid.png in the run folder. Picks come from
--pick "3,7,12" (ranges like 3-5 allowed), else --pick-file (numbers separated by commas,
whitespace or newlines; "#" starts a comment), else a question in the terminal.
Negatives are the picked samples; positives are the unpicked ones plus more generated samples,
unfiltered, up to --candidates.
"""
from __future__ import annotations

import re
from pathlib import Path

import torch

from unlearn_cli.api import SampleSets, SourceContext, UnlearnError

from . import common

PROMPT = "Numbers of the undesired samples (e.g. 3,7,12): "
ATTEMPTS = 3


def collect(context: SourceContext) -> SampleSets:
    from unlearn_cli.io.images import save_grid

    if context.out_dir is None:
        raise UnlearnError("the manual source needs an output folder for its grid: pass --out DIR")
    candidates = common.int_option(context, "candidates", 2000, minimum=2)
    seed = common.seed_of(context)
    grid = common.generate_all(context, min(candidates, common.GRID_MAX), seed, common.STREAM_GRID)
    n = grid.shape[0]
    path = save_grid(common.preview(grid), Path(context.out_dir) / "manual_grid.png", numbers=True)
    common.info(f"numbered grid of {n} samples: {path}")

    picked = _picks(context, n, path)
    chosen = torch.zeros(n, dtype=torch.bool)
    chosen[[i - 1 for i in picked]] = True
    extra = common.generate_all(context, candidates - n, seed, common.STREAM_EXTRA)
    positives = torch.cat([grid[~chosen], extra])
    stats = {"grid": str(path), "shown": n, "picked": picked, "tried": candidates}
    if len(picked) < common.FEW_NEGATIVES:
        common.warn(stats, f"only {len(picked)} sample(s) picked; adaptation works better with "
                           f"{common.FEW_NEGATIVES} or more negatives")
    note = (f"{n - len(picked)} unpicked grid samples plus {extra.shape[0]} more generated samples, "
            f"unfiltered: the extra ones contain the undesired feature at the generator's base rate")
    return common.finish(context, SampleSets(grid[chosen], positives, note, stats))


def _picks(context: SourceContext, n: int, grid_path: Path) -> list[int]:
    pick, pick_file = context.options.get("pick"), context.options.get("pick_file")
    if pick is not None and str(pick).strip() != "":
        return parse_picks(str(pick), n, "--pick")
    if pick_file:
        return parse_picks(_read_text(Path(pick_file)), n, f"--pick-file '{pick_file}'")
    if context.ask is None:
        raise UnlearnError(f"the manual source needs picks: look at {grid_path} and pass "
                           f"--pick 3,7,12 or --pick-file FILE")
    for attempt in range(1, ATTEMPTS + 1):
        try:
            answer = context.ask(PROMPT)
        except EOFError:
            raise UnlearnError(f"no answer to the question (end of input); look at {grid_path} "
                               f"and pass --pick 3,7,12 or --pick-file FILE") from None
        try:
            return parse_picks(str(answer or ""), n, "your answer")
        except UnlearnError as exc:
            if attempt == ATTEMPTS:
                raise
            common.info(f"{exc}; try again")
    raise AssertionError("unreachable")


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise UnlearnError(f"cannot read --pick-file '{path}': {exc.strerror or exc}") from exc


def parse_picks(text: str, n: int, where: str = "--pick") -> list[int]:
    """Sorted unique 1-based numbers from "3,7,12" / "3-5" / whitespace- or newline-separated text.

    Refuses (one line, naming ``where``) an empty pick, a token that is no number or range, a
    number outside 1..n and picking all n samples (nothing would be left as positives).
    """
    text = re.sub(r"#[^\n]*", " ", text)           # comments in pick files
    text = re.sub(r"\s*-\s*", "-", text)           # "3 - 5" -> "3-5"
    numbers: set[int] = set()
    for token in filter(None, re.split(r"[\s,;]+", text)):
        match = re.fullmatch(r"(\d{1,9})(?:-(\d{1,9}))?", token)
        if not match:
            raise UnlearnError(f"{where}: '{token}' is not a number or a range like 3-5")
        low = int(match.group(1))
        high = int(match.group(2)) if match.group(2) else low
        if low > high:
            raise UnlearnError(f"{where}: range '{token}' runs backwards; write {high}-{low}")
        for number in (low, high):
            if not 1 <= number <= n:
                raise UnlearnError(f"{where}: {number} is not on the grid, whose numbers run 1-{n}")
        numbers.update(range(low, high + 1))
    if not numbers:
        raise UnlearnError(f"{where}: no number given; name at least one undesired sample, e.g. 3,7,12")
    if len(numbers) == n:
        raise UnlearnError(f"{where}: all {n} samples were picked; leave at least one unpicked "
                           f"to serve as a positive")
    return sorted(numbers)
