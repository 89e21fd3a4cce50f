"""Provenance written with every well: what produced it, from what, with which libraries."""

from __future__ import annotations

import hashlib
from functools import cache
from importlib.metadata import PackageNotFoundError, version

import numpy as np

LIBRARIES = ("hcs-steps", "numpy", "zarr", "numcodecs", "ome-zarr", "tifffile")


def library_versions(extra=()) -> dict[str, str | None]:
    """Installed versions of the libraries that shape written data (``None`` if absent).

    Examples
    --------
    >>> sorted(library_versions())[:2]
    ['hcs-steps', 'numcodecs']
    """
    return {name: _version(name) for name in (*LIBRARIES, *extra)}


@cache
def _version(name: str) -> str | None:
    # importlib.metadata parses package metadata on every call; once per process is enough
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def array_checksum(data: np.ndarray) -> str:
    """``sha256:<hex>`` of an array's dtype, shape and C-order bytes.

    Examples
    --------
    >>> array_checksum(np.zeros((2, 2), np.uint8))[:15]
    'sha256:0f4c6241'
    """
    data = np.ascontiguousarray(data)
    digest = hashlib.sha256(f"{data.dtype.str}{data.shape}".encode())
    digest.update(memoryview(data).cast("B"))
    return "sha256:" + digest.hexdigest()
