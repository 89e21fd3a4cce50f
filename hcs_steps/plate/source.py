"""What every ingest source offers: plate-wide facts and one well at a time."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass
class Source(ABC):
    """A plate to ingest: instrument folder, OME-Zarr plate or the demo plate.

    ``read_well(well)`` returns a 64-byte-aligned ``(fields, channels, Z, Y, X)`` array;
    ``well_files(well)`` lists the files it was read from (for provenance).
    """

    name: str
    wells: list[str]
    channel_names: list[str]
    field_count: int
    shape_zyx: tuple[int, int, int]
    dtype: np.dtype
    format: str
    path: Path | None = None
    pixel_size_zyx: tuple[float, float, float] | None = None
    attributes: dict = field(default_factory=dict)

    @abstractmethod
    def read_well(self, well: str) -> np.ndarray:
        """The well's images, ``(fields, channels, Z, Y, X)``, aligned."""

    @abstractmethod
    def well_files(self, well: str) -> list[str]:
        """Paths (relative to :attr:`path` where possible) that ``read_well`` reads."""
