"""Provenance written with every well: what produced it, from what, with which libraries."""

from __future__ import annotations

import hashlib
from importlib.metadata import PackageNotFoundError, version

import numpy as np

LIBRARIES = ("hcs-steps", "numpy", "zarr", "numcodecs", "ome-zarr", "tifffile")


def library_versions(extra=()) -> dict[str, str]:
    """Installed versions of the libraries that shape written data (``None`` if absent).

    Examples
    --------
    >>> sorted(library_versions())[:2]
    ['hcs-steps', 'numcodecs']
    """
    found = {}
    for name in (*LIBRARIES, *extra):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    return found


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
