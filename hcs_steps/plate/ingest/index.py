"""Assemble wells from a folder of single-plane TIFFs indexed by (well, field, channel, z).

The instrument readers (ImageXpress, Phenix, filename patterns) only build an index of
files; this module turns it into a :class:`TiffSource` that reads wells, refusing missing
planes (unless filled with zeros) and images whose shape or dtype disagree.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import tifffile

from hcs_steps.buffers import aligned_empty
from hcs_steps.plate.errors import PlateDataError
from hcs_steps.plate.layout import sort_wells
from hcs_steps.plate.source import Source

MISSING_POLICIES = ("error", "zeros")


@dataclass
class PlaneIndex:
    """Files of one plate by ``(well, field, channel, z)``, with the axis orders to use.

    ``fields``, ``channels`` and ``planes`` hold the instrument's ids (numbers or names)
    in output order; ``files`` maps id tuples to paths. ``expected_wells`` are wells the
    instrument's metadata lists, with or without files (missing ones are then reported).
    """

    root: Path
    name: str
    files: dict[tuple, Path]
    fields: list
    channels: list
    planes: list
    channel_names: list[str] | None = None
    pixel_size_zyx: tuple[float, float, float] | None = None
    expected_wells: list[str] = field(default_factory=list)


def _plane_header(path: Path) -> tuple[tuple[int, ...], np.dtype]:
    try:
        with tifffile.TiffFile(path) as tif:
            series = tif.series[0]
            return tuple(series.shape), np.dtype(series.dtype)
    except (OSError, ValueError, tifffile.TiffFileError) as error:
        raise PlateDataError(f"cannot read TIFF {path}: {error}") from error


@dataclass
class TiffSource(Source):
    """A plate stored as one TIFF per plane; see :func:`tiff_source`."""

    index: PlaneIndex | None = None
    missing: str = "error"
    reference_file: Path | None = None

    def _plane(self, key: tuple) -> np.ndarray | None:
        path = self.index.files.get(key)
        if path is None:
            if self.missing == "zeros":
                return None
            well, field_id, channel, plane = key
            raise PlateDataError(
                f"plate {self.name}: no image for well {well}, field {field_id}, channel "
                f"{channel}, plane {plane} in {self.index.root} (use missing='zeros' to fill)"
            )
        try:
            image = tifffile.imread(path)
        except (OSError, ValueError, tifffile.TiffFileError) as error:
            raise PlateDataError(f"cannot read TIFF {path}: {error}") from error
        if image.shape != self.shape_zyx[1:] or image.dtype != self.dtype:
            raise PlateDataError(
                f"{path} is {image.shape} {image.dtype} but {self.reference_file} is "
                f"{self.shape_zyx[1:]} {self.dtype}: all images of a plate must match"
            )
        return image

    def read_well(self, well: str) -> np.ndarray:
        """Read the well's planes into an aligned ``(F, C, Z, Y, X)`` array."""
        if well not in self.wells:
            raise PlateDataError(f"plate {self.name} has no well {well}; wells: {self.wells}")
        idx = self.index
        out = aligned_empty(
            (len(idx.fields), len(idx.channels), len(idx.planes), *self.shape_zyx[1:]),
            self.dtype,
        )
        for f, field_id in enumerate(idx.fields):
            for c, channel in enumerate(idx.channels):
                for z, plane in enumerate(idx.planes):
                    image = self._plane((well, field_id, channel, plane))
                    out[f, c, z] = 0 if image is None else image
        return out

    def well_files(self, well: str) -> list[str]:
        """The files of ``well``, relative to the source folder, sorted."""
        idx = self.index
        keys = itertools.product([well], idx.fields, idx.channels, idx.planes)
        return sorted(
            idx.files[key].relative_to(idx.root).as_posix() for key in keys if key in idx.files
        )


def tiff_source(index: PlaneIndex, *, format: str, missing: str = "error") -> TiffSource:
    """Build a :class:`TiffSource` from an index, reading one TIFF header for shape/dtype."""
    if missing not in MISSING_POLICIES:
        raise PlateDataError(f"missing={missing!r}: use one of {MISSING_POLICIES}")
    if not index.files:
        raise PlateDataError(f"no images found for plate {index.name} in {index.root}")
    first = min(index.files.values())
    shape, dtype = _plane_header(first)
    if len(shape) != 2:
        raise PlateDataError(f"{first} has shape {shape}; expected one 2D plane per file")
    channel_names = index.channel_names or [str(c) for c in index.channels]
    return TiffSource(
        name=index.name,
        wells=sort_wells({key[0] for key in index.files} | set(index.expected_wells)),
        channel_names=list(channel_names),
        field_count=len(index.fields),
        shape_zyx=(len(index.planes), *shape),
        dtype=dtype,
        format=format,
        path=index.root,
        pixel_size_zyx=index.pixel_size_zyx,
        index=index,
        missing=missing,
        reference_file=first,
    )
