"""The run folder: created (or taken over) before any work, locked while a process writes in it,
cleaned up after a failure, and listed with checksums in manifest.json at the end.

What a failure removes is only what this process created: a folder the user made stays (emptied
of our files); a run folder replaced by ``--overwrite`` is moved aside first (into a hidden
``.replaced-*`` folder inside it) and put back if the new run fails before it made anything worth
keeping, else removed. Old results are therefore never mixed with new ones.
"""
from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from unlearn_cli.errors import UnlearnError
from unlearn_cli.io.atomic import sha256_file, write_text

LOCK = ".lock"
JOB = ".job.json"  # which command made the folder (and from which adapted models)
BUSY_NEW = "wait for it to finish, or choose another --out"
BUSY_RESUME = "wait for it to finish or stop it, then --resume"
RUN_MARKERS = ("config.yaml", "manifest.json", JOB)  # a folder holding one of these is a run


def is_run_folder(path: Path) -> bool:
    return any((path / name).exists() for name in RUN_MARKERS)


class FolderLock:
    """An exclusive lock on ``folder/.lock`` (flock: released by the kernel if the process dies,
    so a killed run never leaves a folder locked). A second writer is refused in one line."""

    def __init__(self, folder: Path, what: str):
        self.path = folder / LOCK
        try:
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise UnlearnError(f"cannot write to output folder {folder}: "
                               f"{exc.strerror or exc}") from None
        try:
            import fcntl
        except ImportError:  # (no flock on this platform: no protection, as before)
            return
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(self.fd, 32, 0).decode("ascii", "replace").strip() or "?"
            os.close(self.fd)
            self.fd = None
            raise UnlearnError(f"{folder} is in use by another gan-unlearn process (pid "
                               f"{holder}); {what}") from None
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, str(os.getpid()).encode(), 0)

    def release(self) -> None:
        if self.fd is not None:
            self.path.unlink(missing_ok=True)  # (while still held: nobody can take a stale one)
            os.close(self.fd)
            self.fd = None


@dataclass
class RunFolder:
    path: Path
    lock: FolderLock
    made: list[Path] = field(default_factory=list)  # folders this process created, deepest first
    replaced: Path | None = None  # the old run's entries, moved aside by --overwrite
    foreign: set[str] = field(default_factory=set)  # the user's own files (--overwrite): kept

    # ---- opening
    @classmethod
    def fresh(cls, out: str | None, overwrite: bool, mode: str = "run",
              adapted: list[str] = ()) -> "RunFolder":
        """A new run's folder: ``out`` (created if missing) or a unique default name."""
        if out is None:
            folder = cls._default(Path("runs"))
        else:
            folder = cls._take(Path(out), overwrite)
        try:
            write_text(folder.path / JOB, json.dumps({"mode": mode, "adapted": list(adapted)}))
        except BaseException:
            folder.failed(keep=False)
            raise
        return folder

    @classmethod
    def _default(cls, parent: Path) -> "RunFolder":
        """runs/run-TIMESTAMP, made with an exclusive mkdir: two runs started in the same second
        get -2, -3, ... rather than one folder."""
        made = _missing(parent)
        _mkdir(parent, parents=True)
        stamp = time.strftime("run-%Y%m%d-%H%M%S")
        for n in range(1, 1000):
            path = parent / (stamp if n == 1 else f"{stamp}-{n}")
            try:
                path.mkdir()
            except FileExistsError:
                continue
            except OSError as exc:
                raise UnlearnError(f"cannot write to output folder {path}: "
                                   f"{exc.strerror or exc}") from None
            return cls(path, FolderLock(path, BUSY_NEW), [path, *made])
        raise UnlearnError(f"too many runs named {parent}/{stamp}-*; pass --out")

    @classmethod
    def _take(cls, path: Path, overwrite: bool) -> "RunFolder":
        if path.exists() and not path.is_dir():
            raise UnlearnError(f"--out {path} is a file; choose a folder")
        made = _missing(path)
        _mkdir(path, parents=True)
        try:
            lock = FolderLock(path, BUSY_NEW)
        except UnlearnError:
            _remove_empty(made)
            raise
        folder = cls(path, lock, made)
        entries = folder._entries()
        if entries and not overwrite:
            lock.release()
            raise UnlearnError(f"output folder {path} is not empty; choose another --out or "
                               f"pass --overwrite")
        if entries and is_run_folder(path):  # --overwrite of a run: a fresh run, nothing reused
            folder._move_aside(entries)
        else:  # --overwrite of another folder: the run's files go beside the user's
            folder.foreign = {p.name for p in entries}
        try:
            probe = path / ".write-test"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            folder.failed(keep=False)
            raise UnlearnError(f"cannot write to output folder {path}: {exc.strerror or exc}") from None
        return folder

    @classmethod
    def resume(cls, path: Path, mode: str, adapted: list[str] = ()) -> "RunFolder":
        """An interrupted run's folder, taken over by ``--resume``: locked, checked, tidied."""
        if not path.is_dir():
            raise UnlearnError(f"--resume {path}: no such folder")
        folder = cls(path, FolderLock(path, BUSY_RESUME))
        try:
            folder._check_resumable(mode, list(adapted))
        except UnlearnError:
            folder.lock.release()
            raise
        for stale in path.glob(".*.tmp"):  # a write a SIGKILL cut short (io/atomic.py names)
            stale.unlink(missing_ok=True)
        return folder

    def _check_resumable(self, mode: str, adapted: list[str]) -> None:
        if (self.path / "manifest.json").is_file():
            raise UnlearnError(f"--resume {self.path}: that run is finished (it has its "
                               f"manifest.json); nothing is replaced: start a new run with --out")
        try:
            job = json.loads((self.path / JOB).read_text())
        except (OSError, ValueError):
            return  # a folder from before .job.json: the config check is all there is
        if job.get("mode", mode) != mode:
            raise UnlearnError(f"--resume {self.path}: that folder was made by `gan-unlearn "
                               f"{job['mode']}`; continue it with `gan-unlearn {job['mode']} "
                               f"--resume {self.path}`")
        if mode == "unlearn" and job.get("adapted") and job["adapted"] != adapted:
            raise UnlearnError(f"--resume {self.path}: that run unlearns from other --adapted "
                               f"files ({', '.join(job['adapted'])}); pass the same ones")

    # ---- closing
    def finished(self) -> None:
        if self.replaced is not None:
            shutil.rmtree(self.replaced, ignore_errors=True)
            self.replaced = None
        self.lock.release()

    def failed(self, keep: bool) -> None:
        """A run stopped by an error or a signal. ``keep``: it made something worth --resume;
        otherwise what it created goes and an old run it replaced comes back."""
        if not keep:
            for entry in self._entries():
                if entry.name not in self.foreign:
                    _remove(entry)
            if self.replaced is not None:
                for entry in self.replaced.iterdir():
                    os.replace(entry, self.path / entry.name)
                self.replaced.rmdir()
                self.replaced = None
        self.finished()
        if not keep:
            _remove_empty(self.made)

    # ---- helpers
    def _entries(self) -> list[Path]:
        skip = {LOCK, self.replaced.name if self.replaced else None}
        return [p for p in self.path.iterdir() if p.name not in skip]

    def _move_aside(self, entries: list[Path]) -> None:
        aside = self.path / f".replaced-{os.getpid()}-{time.time_ns()}"
        try:
            aside.mkdir()
            for entry in entries:
                os.replace(entry, aside / entry.name)
        except OSError as exc:
            for entry in (aside.iterdir() if aside.is_dir() else ()):  # undo: all or nothing
                os.replace(entry, self.path / entry.name)
            shutil.rmtree(aside, ignore_errors=True)
            self.lock.release()
            raise UnlearnError(f"cannot replace the run in {self.path}: {exc.strerror or exc}; "
                               f"choose another --out") from None
        self.replaced = aside


def _missing(path: Path) -> list[Path]:
    return [p for p in (path, *path.parents) if not p.exists()]  # deepest first


def _mkdir(path: Path, parents: bool) -> None:
    made = _missing(path)
    try:
        path.mkdir(parents=parents, exist_ok=True)
    except OSError as exc:
        _remove_empty(made)
        raise UnlearnError(f"cannot write to output folder {path}: {exc.strerror or exc}") from None


def _remove(entry: Path) -> None:
    if entry.is_dir() and not entry.is_symlink():
        shutil.rmtree(entry, ignore_errors=True)
    else:
        entry.unlink(missing_ok=True)


def _remove_empty(folders: list[Path]) -> None:
    for folder in folders:
        try:
            folder.rmdir()
        except FileNotFoundError:
            continue
        except OSError:  # not empty (someone else's files) or not ours to remove
            break


def write_manifest(out_dir: Path, plugins: dict | None = None) -> None:
    """manifest.json: sha256 and size of every file in the run folder (resume state, the lock,
    temporary files and anything else hidden excluded), and ``plugins``: {kind: {name,
    distribution, version}} of the components that made them."""
    files = {}
    for path in sorted(out_dir.rglob("*")):
        rel = path.relative_to(out_dir)
        hidden = any(part.startswith(".") for part in rel.parts)
        if path.is_file() and rel.as_posix() != "manifest.json" and rel.parts[0] != "resume" and not hidden:
            files[rel.as_posix()] = {"sha256": sha256_file(path), "bytes": path.stat().st_size}
    write_text(out_dir / "manifest.json",
               json.dumps({"files": files, "plugins": plugins or {}}, indent=2, sort_keys=True))
