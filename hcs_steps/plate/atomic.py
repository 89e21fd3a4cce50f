"""Publish files and directories so that readers see all of them or none.

Per-well Snakemake jobs write into one plate concurrently: each builds its well in a
hidden temporary sibling and renames it into place. ``rename`` within a directory is
atomic on POSIX file systems, so a killed job leaves only a ``.*.tmp`` directory that
no reader looks at, never a half-written well.
"""

from __future__ import annotations

import errno
import os
import shutil
import uuid
from pathlib import Path

from hcs_steps.plate.errors import PlateDataError


def temporary_sibling(path: Path, tag: str = "tmp") -> Path:
    """A fresh hidden path next to ``path`` (same directory, so a rename is atomic)."""
    return path.with_name(f".{path.name}.{uuid.uuid4().hex}.{tag}")


def write_file_atomically(path: Path, data: bytes, *, keep_existing: bool = False) -> None:
    """Write ``data`` to ``path`` through a temporary sibling and a rename.

    With ``keep_existing`` an existing file wins (``os.link`` refuses to overwrite), which
    lets concurrent writers create a shared file exactly once.
    """
    tmp = temporary_sibling(path)
    tmp.write_bytes(data)
    try:
        if keep_existing:
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass
        else:
            os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def publish_directory(tmp: Path, final: Path, *, attempts: int = 20) -> None:
    """Move the finished directory ``tmp`` to ``final``, replacing what was there.

    An existing ``final`` is first renamed aside (a directory cannot be atomically
    replaced by another non-empty one), then removed; readers see either the old or
    the new complete directory, or for a moment none.
    """
    for _ in range(attempts):
        try:
            os.rename(tmp, final)
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
