"""The run folder: created before any work (writability checked), removed again when a run fails
before anything worth keeping was written, and listed with checksums in manifest.json at the end."""
from __future__ import annotations

import json
import time
from pathlib import Path

from unlearn_cli.errors import UnlearnError
from unlearn_cli.io.atomic import sha256_file, write_text


def prepare_out_dir(out: str | None, overwrite: bool) -> Path:
    path = Path(out) if out else Path("runs") / time.strftime("run-%Y%m%d-%H%M%S")
    if path.exists() and not path.is_dir():
        raise UnlearnError(f"--out {path} is a file; choose a folder")
    if path.is_dir() and any(path.iterdir()) and not overwrite:
        raise UnlearnError(f"output folder {path} is not empty; choose another --out or "
                           f"pass --overwrite")
    missing = [p for p in (path, *path.parents) if not p.exists()]  # deepest first
    probe = path / ".write-test"
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        try:  # leave no folder behind: remove what this call created
            probe.unlink(missing_ok=True)
            for folder in missing:
                folder.rmdir()
        except OSError:
            pass
        raise UnlearnError(f"cannot write to output folder {path}: {exc.strerror or exc}") from None
    return path


def missing_folders(out: str | None) -> list[Path]:
    """The folders a run in ``out`` (default runs/...) would create, deepest first."""
    target = Path(out) if out else Path("runs")
    return [p for p in (target, *target.parents) if not p.exists()]


def remove_run_folder(out_dir: Path, new_folders: list[Path]) -> None:
    """A failed run's folder, and the (now empty) folders above it that the run created."""
    import shutil

    shutil.rmtree(out_dir, ignore_errors=True)
    for folder in new_folders:
        try:
            folder.rmdir()
        except FileNotFoundError:
            continue
        except OSError:  # not empty (someone else's files) or not ours to remove
            break


def write_manifest(out_dir: Path, plugins: dict | None = None) -> None:
    """manifest.json: sha256 and size of every file in the run folder (resume state excluded),
    and ``plugins``: {kind: {name, distribution, version}} of the components that made them."""
    files = {}
    for path in sorted(out_dir.rglob("*")):
        rel = path.relative_to(out_dir).as_posix()
        if path.is_file() and rel != "manifest.json" and not rel.startswith("resume/"):
            files[rel] = {"sha256": sha256_file(path), "bytes": path.stat().st_size}
    write_text(out_dir / "manifest.json",
               json.dumps({"files": files, "plugins": plugins or {}}, indent=2, sort_keys=True))
