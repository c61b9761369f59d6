"""The picks file: which samples of which model's seeded stream are undesired (JSON).

    {"format": "gan-unlearn-picks", "version": 1, "model": "bundled:digits",
     "model_sha256": null, "resolution": 28, "channels": 1, "seed": 0, "shown": 64,
     "picked": [3, 7, 12]}

``picked`` are the 1-based sample numbers (as on the grid and the page), ``shown`` how many
samples were looked at. The model (its sha256 for files, else its name), resolution and seed
together fix the images (plugins/sources/sample_stream.py), so a run with ``--pick-file`` given
another model or seed is refused rather than silently forgetting other samples.
Written atomically after every change, so a closed tab or a killed process loses nothing.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from unlearn_cli.api import SourceContext, UnlearnError

FORMAT = "gan-unlearn-picks"
VERSION = 1
MAX_BYTES = 16 << 20  # a picks file is a few kB; refuse to read anything much larger


@dataclass
class ModelIdentity:
    model: str
    model_sha256: str | None
    resolution: int
    channels: int

    @classmethod
    def of(cls, context: SourceContext) -> "ModelIdentity":
        ckpt = str(context.options.get("ckpt") or "bundled:digits")
        return cls(ckpt, _sha256_if_file(ckpt), int(context.resolution), int(context.channels))

    def differs_from(self, other: "ModelIdentity") -> str | None:
        """What differs (for the error message), or None when they are the same model."""
        if self.model_sha256 and other.model_sha256:
            same = self.model_sha256 == other.model_sha256
        else:
            same = self.model == other.model
        if not same:
            return f"they were made on '{other.model}', this run uses '{self.model}'"
        if (self.resolution, self.channels) != (other.resolution, other.channels):
            return (f"they were made on {other.channels}-channel {other.resolution} px samples, "
                    f"this model makes {self.channels}-channel {self.resolution} px ones")
        return None


def _sha256_if_file(ckpt: str) -> str | None:
    path = Path(ckpt)
    if ckpt.startswith("bundled:") or not path.is_file():
        return None
    from unlearn_cli.api import sha256_file

    return sha256_file(path)


@dataclass
class Picks:
    identity: ModelIdentity
    seed: int
    shown: int
    picked: list[int] = field(default_factory=list)

    def to_json(self) -> str:
        data = {"format": FORMAT, "version": VERSION, **asdict(self.identity), "seed": self.seed,
                "shown": self.shown, "picked": sorted(self.picked)}
        return json.dumps(data, indent=1) + "\n"

    def save(self, path: str | Path) -> None:
        from unlearn_cli.api import write_text

        write_text(path, self.to_json())


def is_json(text: str) -> bool:
    return text.lstrip().startswith("{")


def parse(text: str, where: str) -> Picks:
    """A Picks from a picks file's text; every defect is a one-line UnlearnError naming ``where``."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise UnlearnError(f"{where} is not valid JSON ({exc}); write it with `gan-unlearn pick` "
                           f"or use plain numbers like 3,7,12") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise UnlearnError(f"{where} is JSON but not a gan-unlearn picks file (no \"format\": "
                           f"\"{FORMAT}\"); write it with `gan-unlearn pick`")
    if data.get("version") != VERSION:
        raise UnlearnError(f"{where} has picks-file version {data.get('version')!r}; this "
                           f"gan-unlearn reads version {VERSION}: upgrade it or pick again")

    def number(key: str, minimum: int) -> int:
        value = data.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise UnlearnError(f"{where}: \"{key}\" must be a whole number >= {minimum}, got {value!r}")
        return value

    def text_or_none(key: str) -> str | None:
        value = data.get(key)
        if value is not None and not isinstance(value, str):
            raise UnlearnError(f"{where}: \"{key}\" must be text, got {value!r}")
        return value

    shown = number("shown", 2)
    picked = data.get("picked")
    if not isinstance(picked, list) or not all(isinstance(p, int) and not isinstance(p, bool)
                                               for p in picked):
        raise UnlearnError(f"{where}: \"picked\" must be a list of sample numbers, got {picked!r}")
    for p in picked:
        if not 1 <= p <= shown:
            raise UnlearnError(f"{where}: sample {p} was picked but only 1-{shown} were shown")
    model = text_or_none("model")
    if not model:
        raise UnlearnError(f"{where}: \"model\" is missing; write the file with `gan-unlearn pick`")
    identity = ModelIdentity(model, text_or_none("model_sha256"), number("resolution", 1),
                             number("channels", 1))
    return Picks(identity, number("seed", 0), shown, sorted(set(picked)))


def read(path: str | Path, where: str) -> str:
    """The picks file's text. Only a regular file is opened (a FIFO would block the run, a
    device such as /dev/zero never ends), and at most MAX_BYTES of it is read."""
    import stat

    path = Path(path)
    try:
        mode = path.stat().st_mode
        if not stat.S_ISREG(mode):
            what = ("a FIFO (named pipe)" if stat.S_ISFIFO(mode) else "a folder"
                    if stat.S_ISDIR(mode) else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
                    else "a socket" if stat.S_ISSOCK(mode) else "not a regular file")
            raise UnlearnError(f"{where} is {what}, not a regular file; pass a file")
        with open(path, "rb") as handle:
            data = handle.read(MAX_BYTES + 1)
        if len(data) > MAX_BYTES:
            raise UnlearnError(f"{where} is larger than {MAX_BYTES >> 20} MB; a picks file is a "
                               f"list of numbers: check the path")
        return data.decode("utf-8", errors="replace")
    except PermissionError:
        raise UnlearnError(f"{where}: permission denied; make it readable (chmod u+r) "
                           f"or pass another file") from None
    except OSError as exc:
        raise UnlearnError(f"cannot read {where}: {exc.strerror or exc}") from exc


def check_matches(picks: Picks, context: SourceContext, seed: int, where: str) -> None:
    """Refuse picks made on another model or seed: their numbers mean other images here."""
    problem = ModelIdentity.of(context).differs_from(picks.identity)
    if problem:
        raise UnlearnError(f"{where} holds picks for another model: {problem}; pass that model "
                           f"(--ckpt) or pick again")
    if picks.seed != seed:
        raise UnlearnError(f"{where} was picked with --seed {picks.seed}, this run uses --seed "
                           f"{seed}: the same numbers are other samples; pass --seed {picks.seed}")
