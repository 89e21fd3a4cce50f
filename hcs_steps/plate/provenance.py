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


class StreamingChecksum:
    """:func:`array_checksum` of an array whose C-order parts arrive one by one.

    Wells are written field by field (and channel by channel) without ever being whole in
    memory; their checksum is the same as that of the whole array.

    Examples
    --------
    >>> data = np.arange(12, dtype=np.uint16).reshape(3, 4)
    >>> checksum = StreamingChecksum(data.dtype, data.shape)
    >>> for row in data:
    ...     checksum.update(row)
    >>> checksum.hexdigest() == array_checksum(data)
    True
    """

    def __init__(self, dtype, shape: tuple[int, ...]):
        self._digest = hashlib.sha256(f"{np.dtype(dtype).str}{tuple(shape)}".encode())

    def update(self, part: np.ndarray) -> None:
        self._digest.update(memoryview(np.ascontiguousarray(part)).cast("B"))

    def hexdigest(self) -> str:
        return "sha256:" + self._digest.hexdigest()


def array_checksum(data: np.ndarray) -> str:
    """``sha256:<hex>`` of an array's dtype, shape and C-order bytes.

    Examples
    --------
    >>> array_checksum(np.zeros((2, 2), np.uint8))[:15]
    'sha256:0f4c6241'
    """
    data = np.ascontiguousarray(data)
    checksum = StreamingChecksum(data.dtype, data.shape)
    checksum.update(data)
    return checksum.hexdigest()
