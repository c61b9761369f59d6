"""Atomic file writes: write to a temporary file beside the target, fsync, then rename.

A crash or a full disk therefore never leaves a half-written file under the final name.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from pathlib import Path
from typing import Callable, Iterator

from unlearn_cli.errors import UnlearnError


class WriteFailed(UnlearnError):
    """A write failed (full disk, quota, read-only): a run keeps its folder (samples, finished
    stages, the last checkpoint) so that --resume continues once the cause is fixed."""

    keep_run_folder = True


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces ``path`` in one rename."""
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        os.close(fd)
    except OSError as exc:
        raise WriteFailed(f"cannot write to {target.parent}: {exc.strerror or exc}; "
                          f"choose a writable output location") from exc
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files; give the usual mode
        os.replace(tmp, target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise WriteFailed(f"could not write {target}: {exc.strerror or exc}; "
                          f"check free space and permissions") from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: str | os.PathLike, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_with(path: str | os.PathLike, writer: Callable[[Path], None]) -> None:
    """Call ``writer(tmp_path)`` and move the result into place atomically."""
    with atomic_path(path) as tmp:
        writer(tmp)


def sha256_file(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_outputs(outputs, overwrite: bool, inputs=()) -> None:
    """Every command checks its output files here, before any work (issue 19, item 1).

    An output that exists is replaced only with ``overwrite``; one that *is* an input of the
    command (the same path, a symlink to it, a hard link) is refused even then, since writing it
    would destroy what is being read; a folder where a file should go is refused.
    ``inputs`` may hold non-paths (bundled:NAME): only existing files are compared.
    """
    sources = [Path(p) for p in inputs if p is not None and Path(str(p)).exists()]
    for out in map(Path, outputs):
        for source in sources:
            if _same_file(out, source):
                raise UnlearnError(f"{out} is an input of this command ({source}); choose another "
                                   f"output file (an input is never written over, even with "
                                   f"--overwrite)")
        if out.is_dir():
            raise UnlearnError(f"{out} is a folder; pass the name of the file to write")
        if (out.exists() or out.is_symlink()) and not overwrite:
            raise UnlearnError(f"{out} exists; pass --overwrite to replace it")


def _same_file(out: Path, source: Path) -> bool:
    try:
        if out.resolve() == source.resolve():
            return True
        return out.exists() and os.path.samefile(out, source)
    except OSError:
        return False
