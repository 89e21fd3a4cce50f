"""Publish files and directories so that readers see all of them or none.

Per-well Snakemake jobs write into one plate concurrently: each builds its well in a
hidden temporary sibling and renames it into place. ``rename`` within a directory is
atomic on POSIX file systems, so a killed job leaves only a ``.*.tmp`` directory that
no reader looks at, never a half-written well. Before each rename the new files and
directories are flushed to the disk (``fsync``), and after it their parent directory, so
that a crash of the machine, not only of the process, leaves the old or the new version.
"""

from __future__ import annotations

import errno
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hcs_steps.plate.errors import PlateDataError


def temporary_sibling(path: Path, tag: str = "tmp") -> Path:
    """A fresh hidden path next to ``path`` (same directory, so a rename is atomic)."""
    return path.with_name(f".{path.name}.{uuid.uuid4().hex}.{tag}")


def fsync_path(path: Path) -> None:
    """Flush a file's or a directory's data and metadata to the disk."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def fsync_tree(root: Path) -> None:
    """``fsync`` every file and directory under ``root`` (deepest first), then ``root``."""
    for directory, _, files in os.walk(root, topdown=False):
        for name in files:
            fsync_path(Path(directory) / name)
        fsync_path(Path(directory))


def write_file_atomically(path: Path, data: bytes, *, keep_existing: bool = False) -> None:
    """Write ``data`` to ``path`` through a temporary sibling, an ``fsync`` and a rename.

    With ``keep_existing`` an existing file wins (``os.link`` refuses to overwrite), which
    lets concurrent writers create a shared file exactly once.
    """
    path = Path(path)
    tmp = temporary_sibling(path)
    try:  # a write cut short (a full disk) must not leave its temporary file behind
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if keep_existing:
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass
        else:
            os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    fsync_path(path.parent)


def write_with(path: Path, write) -> None:
    """Create ``path`` atomically with ``write(temporary_path)`` (e.g. a pandas writer)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_sibling(path)
    try:
        write(tmp)
        fsync_path(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    fsync_path(path.parent)


def publish_directory(tmp: Path, final: Path, *, attempts: int = 20) -> None:
    """Move the finished directory ``tmp`` to ``final``, replacing what was there.

    An existing ``final`` is first renamed aside (a directory cannot be atomically
    replaced by another non-empty one), then removed; readers see either the old or
    the new complete directory, or for a moment none.
    """
    fsync_tree(tmp)
    for _ in range(attempts):
        try:
            os.rename(tmp, final)
            fsync_path(final.parent)
            return
        except OSError as error:
            if error.errno not in (errno.ENOTEMPTY, errno.EEXIST):  # not "final is there"
                raise
        old = temporary_sibling(final, "old")
        try:
            os.rename(final, old)
        except FileNotFoundError:  # another writer moved it first; try again
            continue
        shutil.rmtree(old, ignore_errors=True)
    shutil.rmtree(tmp, ignore_errors=True)
    raise PlateDataError(f"could not replace {final}: other writers kept replacing it")


@contextmanager
def directory_written(final) -> Iterator[Path]:
    """Write a directory of files at once: yields a hidden temporary sibling of ``final``
    to fill, which replaces ``final`` (:func:`publish_directory`) when the block ends, or
    is removed if it raises. Readers never see some of the files without the others."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_sibling(final)
    tmp.mkdir()
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    publish_directory(tmp, final)
