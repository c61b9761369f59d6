"""Picking in the browser, for a run (`--source manual --ui browser`) and for `gan-unlearn pick`."""
from __future__ import annotations

from pathlib import Path

from unlearn_cli.api import SourceContext, UnlearnError

from . import picks_file
from .pick_server import PickSession, serve
from .picks_file import ModelIdentity, Picks
from .sample_stream import SampleStream


def starting_picks(context: SourceContext, seed: int, path: Path, shown: int) -> Picks:
    """Fresh picks, or those already in ``path`` (same model and seed) to continue them.

    A file at ``path`` that is not a picks file is refused: it is never overwritten.
    """
    if path.is_dir():
        raise UnlearnError(f"{path} is a folder; name the picks file, e.g. {path / 'picks.json'}")
    if not path.exists():
        return Picks(ModelIdentity.of(context), seed, shown, [])
    where = f"'{path}'"
    text = picks_file.read(path, where)
    if not picks_file.is_json(text):
        raise UnlearnError(f"{where} exists and is not a picks file; choose another path "
                           f"(it is never overwritten)")
    picks = picks_file.parse(text, where)
    picks_file.check_matches(picks, context, seed, where)
    picks.shown = max(picks.shown, shown)
    return picks


def pick_in_browser(context: SourceContext, stream: SampleStream, picks: Picks, path: Path,
                    limit: int, host: str, port: int | None) -> Picks:
    """Serve the page until the user presses done; the picks are in ``path`` after every click."""
    if not host.strip():
        raise UnlearnError("--host is empty; use 127.0.0.1 (the default) or an address of this machine")
    if port is not None and not 0 <= port <= 65535:
        raise UnlearnError(f"--port must be 0-65535 (0: any free port), got {port}")
    # a continued file may show more than this run allows: keep all of its picks
    session = PickSession(picks, path, max(limit, picks.shown), stream.thumbnail)
    serve(session, host, port)
    return session.picks
