"""The `manual` source: the user picks the undesired samples, in a browser page or on a grid.

Candidates come from one numbered, seeded stream (sample_stream.py): sample k is the same image
for a model and --seed wherever it is shown. Picks come from --pick "3,7,12" (ranges like 3-5
allowed), else --pick-file (a JSON picks file from the page or `gan-unlearn pick`, or numbers
separated by commas, whitespace or newlines; "#" starts a comment), else --ui: `browser` serves a
page to click on (pick_server.py), `terminal` saves manual_grid.png and asks for numbers, `auto`
(the default) is the browser when a person is at the terminal, the terminal path otherwise.
Negatives are the picked samples; positives are the unpicked shown ones plus more generated
samples, unfiltered, up to --candidates. The same picks give the same sets, whichever way.
"""
from __future__ import annotations

import re
from pathlib import Path

import torch

from unlearn_cli.api import SampleSets, SourceContext, UnlearnError

from . import common, picks_file
from .options import ManualOptions as Options, default
from .sample_stream import SampleStream

PROMPT = "Numbers of the undesired samples (e.g. 3,7,12): "
ATTEMPTS = 3


def collect(context: SourceContext) -> SampleSets:
    from unlearn_cli.api import save_grid

    if context.out_dir is None:
        raise UnlearnError("the manual source needs an output folder for its grid: pass --out DIR")
    candidates = common.int_option(context, "candidates", default(Options, "candidates"), minimum=2)
    seed = common.seed_of(context)
    stream = SampleStream(context, seed)
    ui = _ui(context)
    first = min(candidates, common.GRID_MAX)
    given = _given_picks(context, first, seed)  # refused before anything is written
    # the numbered grid first, whichever way the picks come: a stopped run keeps its folder
    grid = stream.first(first)
    path = save_grid(common.preview(grid), Path(context.out_dir) / "manual_grid.png", numbers=True)
    common.info(f"numbered grid of {first} samples: {path}")
    stats: dict = {}
    if given is None and ui == "browser":
        given = _browser_picks(context, stream, seed, candidates, stats)
    shown, picked = given if given else (first, _ask(context, first, path))
    if shown != first:  # the page showed more samples, or a picks file says so
        grid = stream.first(shown)

    chosen = torch.zeros(shown, dtype=torch.bool)
    chosen[[i - 1 for i in picked]] = True
    extra = common.generate_all(context, max(0, candidates - shown), seed, common.STREAM_EXTRA)
    positives = torch.cat([common.compact_images(grid[~chosen]), extra])  # both compact: same dtype
    stats.update({"grid": str(path), "shown": shown, "picked": picked, "tried": max(candidates, shown)})
    if len(picked) < common.FEW_NEGATIVES:
        common.warn(stats, f"only {len(picked)} sample(s) picked; adaptation works better with "
                           f"{common.FEW_NEGATIVES} or more negatives")
    note = (f"{shown - len(picked)} unpicked shown samples plus {extra.shape[0]} more generated samples, "
            f"unfiltered: the extra ones contain the undesired feature at the generator's base rate")
    return common.finish(context, SampleSets(grid[chosen], positives, note, stats))


UIS = ("auto", "browser", "terminal")


def _ui(context: SourceContext) -> str:
    """browser or terminal; auto is the browser when a person is at the terminal (stdin a TTY)."""
    ui = str(context.options.get("ui") or default(Options, "ui")).strip().lower()
    if ui not in UIS:
        raise UnlearnError(f"--ui must be one of {', '.join(UIS)}, got {ui!r}")
    if ui == "auto":
        import sys

        person = context.ask is not None and sys.stdin is not None and sys.stdin.isatty()
        ui = "browser" if person else "terminal"
    return ui


def _given_picks(context: SourceContext, n: int, seed: int) -> tuple[int, list[int]] | None:
    """(samples shown, picked numbers) from --pick or --pick-file, or None when neither is given."""
    pick, pick_file = context.options.get("pick"), context.options.get("pick_file")
    if pick is not None and str(pick).strip() != "":
        return n, parse_picks(str(pick), n, "--pick")
    if not pick_file:
        return None
    where = f"--pick-file '{pick_file}'"
    text = _read_text(Path(pick_file))
    if not picks_file.is_json(text):
        return n, parse_picks(text, n, where)
    picks = picks_file.parse(text, where)
    picks_file.check_matches(picks, context, seed, where)
    if not picks.picked:
        raise UnlearnError(f"{where}: no sample is picked; pick some with `gan-unlearn pick`")
    if len(picks.picked) == picks.shown:
        raise UnlearnError(f"{where}: all {picks.shown} samples were picked; leave at least one "
                           f"unpicked to serve as a positive")
    return picks.shown, picks.picked


def _browser_picks(context: SourceContext, stream: SampleStream, seed: int, candidates: int,
                   stats: dict) -> tuple[int, list[int]]:
    from .browser_pick import pick_in_browser, starting_picks

    path = Path(context.out_dir) / "picks.json"
    picks = starting_picks(context, seed, path, min(candidates, common.GRID_MAX))
    port = context.options.get("port")
    host = str(context.options.get("host") or default(Options, "host"))
    picks = pick_in_browser(context, stream, picks, path, candidates, host,
                            None if port in (None, "") else common.int_option(context, "port", 0, minimum=0))
    stats.update({"ui": "browser", "picks_file": str(path)})
    return picks.shown, picks.picked


def _ask(context: SourceContext, n: int, grid_path: Path) -> list[int]:
    if context.ask is None:
        raise UnlearnError(f"the manual source needs picks: look at {grid_path} and pass "
                           f"--pick 3,7,12 or --pick-file FILE, or pick in a browser with --ui browser")
    for attempt in range(1, ATTEMPTS + 1):
        try:
            answer = context.ask(PROMPT)
        except EOFError:
            raise UnlearnError(f"no answer to the question (end of input); look at {grid_path} "
                               f"and pass --pick 3,7,12 or --pick-file FILE, or use --ui browser") from None
        try:
            return parse_picks(str(answer or ""), n, "your answer")
        except UnlearnError as exc:
            if attempt == ATTEMPTS:
                raise
            common.info(f"{exc}; try again")
    raise AssertionError("unreachable")


def _read_text(path: Path) -> str:
    return picks_file.read(path, f"--pick-file '{path}'")


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
