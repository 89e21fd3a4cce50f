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


def recorded_provenance(plate, well: str) -> dict:
    """The provenance hcs-steps wrote with ``well`` of ``plate`` (``{}`` for a foreign well).

    Examples
    --------
    >>> import tempfile
    >>> from hcs_steps.plate import write_well
    >>> plate = tempfile.mkdtemp() + "/p.zarr"
    >>> _ = write_well(plate, "B03", np.ones((1, 1, 1, 2, 2), np.uint8), channel_names=["a"],
    ...                provenance={"step": "demo"})
    >>> recorded_provenance(plate, "B03")["step"]
    'demo'
    """
    from hcs_steps.plate import ngff
    from hcs_steps.plate.reader import well_directory

    attributes = ngff.read_attributes(well_directory(plate, well))[1]
    return (attributes.get("hcs_steps") or {}).get("provenance") or {}


def well_checksum(plate, well: str) -> str:
    """:func:`array_checksum` of a whole well: the one recorded with it, else computed.

    A foreign plate's well is read field by field and channel by channel (never whole).

    Examples
    --------
    >>> import tempfile
    >>> from hcs_steps.plate import write_well
    >>> data = np.arange(8, dtype=np.uint16).reshape(2, 1, 1, 2, 2)
    >>> plate = tempfile.mkdtemp() + "/p.zarr"
    >>> _ = write_well(plate, "B03", data, channel_names=["a"])
    >>> well_checksum(plate, "B03") == array_checksum(data)
    True
    """
    recorded = recorded_provenance(plate, well).get("output_checksum")
    if recorded:
        return recorded
    from hcs_steps.plate.reader import open_well

    images = open_well(plate, well)
    checksum = StreamingChecksum(images.dtype, images.shape)
    for field in range(images.shape[0]):
        for channel in range(images.shape[1]):
            checksum.update(images.read(field, channel))
    return checksum.hexdigest()
