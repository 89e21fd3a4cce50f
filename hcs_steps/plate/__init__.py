"""Plate data: OME-Zarr HCS plates, per-well atomic I/O, instrument ingest, demo plates.

Wells are addressed by name (``"B03"``, ``"AA01"``); a well's images are a numpy array
``(fields, channels, Z, Y, X)`` in a 64-byte-aligned buffer. Writes of different wells of
one plate may run concurrently in separate processes; plate metadata is written last.
"""

from hcs_steps.plate.errors import PlateDataError
from hcs_steps.plate.labels import read_labels
from hcs_steps.plate.layout import canonical_well, parse_well, plate_well_path
from hcs_steps.plate.provenance import array_checksum, library_versions
from hcs_steps.plate.reader import (
    PlateLayout,
    WellImages,
    open_plate,
    open_well,
    read_well,
    well_fields,
)
from hcs_steps.plate.source import Source
from hcs_steps.plate.sources import (
    build_demo_plate,
    ingest_plate,
    ingest_well,
    open_source,
)
from hcs_steps.plate.synthetic import synthetic_plate, synthetic_well
from hcs_steps.plate.writer import WellWriter, write_plate_metadata, write_well

__all__ = [
    "PlateDataError",
    "PlateLayout",
    "Source",
    "WellImages",
    "WellWriter",
    "array_checksum",
    "build_demo_plate",
    "canonical_well",
    "ingest_plate",
    "ingest_well",
    "library_versions",
    "open_plate",
    "open_source",
    "open_well",
    "parse_well",
    "plate_well_path",
    "read_labels",
    "read_well",
    "synthetic_plate",
    "synthetic_well",
    "well_fields",
    "write_plate_metadata",
    "write_well",
]
