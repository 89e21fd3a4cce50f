"""Open a plate source by format and ingest it, well by well, into an OME-Zarr plate."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hcs_steps.plate.errors import PlateDataError
from hcs_steps.plate.layout import canonical_well
from hcs_steps.plate.provenance import array_checksum
from hcs_steps.plate.reader import PlateLayout, open_plate, read_well, well_directory
from hcs_steps.plate.source import Source
from hcs_steps.plate.writer import write_plate_metadata, write_well

FORMATS = ("ome-zarr", "imagexpress", "phenix", "pattern", "demo")


@dataclass
class ZarrSource(Source):
    """An existing OME-Zarr plate (NGFF 0.4 or 0.5) as an ingest source.

    ``well_paths`` maps each well to its group as the plate's metadata names it: a plate
    written by other tools may spell columns unpadded (``B/3``).
    """

    well_paths: dict[str, str] = field(default_factory=dict)

    def read_well(self, well: str) -> np.ndarray:
        return read_well(self.path, well)

    def well_files(self, well: str) -> list[str]:
        return [str(well_directory(self.path, well))]


def _zarr_source(path: Path, first_well: str | None) -> ZarrSource:
    # Only the plate metadata and one well: opening is what every Snakefile parse does (on
    # a cluster, every job), so it must not grow with the plate. Each well is checked when
    # it is read.
    layout = open_plate(path, every_well=False, first_well=first_well)
    return ZarrSource(
        name=layout.name,
        wells=layout.wells,
        channel_names=layout.channel_names,
        field_count=layout.field_count,
        shape_zyx=layout.shape_zyx,
        dtype=layout.dtype,
        format="ome-zarr",
        path=Path(path),
        well_paths=dict(layout.well_paths),
    )


def open_source(
    path,
    format: str,
    *,
    pattern: str | None = None,
    missing: str = "error",
    timepoint: int | None = None,
    first_well: str | None = None,
) -> Source:
    """Open a plate to ingest.

    Parameters
    ----------
    path : path or None
        The instrument folder or OME-Zarr plate; ignored for ``"demo"``.
    format : str
        ``"ome-zarr"``, ``"imagexpress"``, ``"phenix"``, ``"pattern"`` or ``"demo"``.
    pattern : str, optional
        For ``"pattern"``: a regular expression matched against each file's path relative
        to ``path``, with named groups ``well`` (or ``row`` and ``column``) and optionally
        ``field``, ``channel`` and ``z``.
    missing : {"error", "zeros"}
        What a missing plane does: raise naming plate, well, field, channel and plane, or
        read as zeros.
    timepoint : int, optional
        ImageXpress or Phenix time point to ingest when the folder holds several.
    first_well : str, optional
        For ``"ome-zarr"``: the well opened for the plate's channels, shape and dtype (the
        first well a run reads); default the plate's first well. No other well is opened.

    Examples
    --------
    >>> source = open_source(None, "demo")
    >>> source.wells, source.channel_names, source.shape_zyx
    (['B02', 'B03', 'B04', 'C02', 'C03', 'C04'], ['nuclei', 'nuclear', 'cells'], (8, 256, 256))
    """
    if format == "demo":
        from hcs_steps.plate.demo import demo_source

        return demo_source()
    if format not in FORMATS:
        raise PlateDataError(f"source format {format!r} is not one of {FORMATS}")
    path = Path(path)
    if not path.exists():
        raise PlateDataError(f"{format} source {path} does not exist")
    if format == "ome-zarr":
        return _zarr_source(path, first_well)
    if format == "imagexpress":
        from hcs_steps.plate.ingest.imagexpress import imagexpress_source

        return imagexpress_source(path, missing=missing, timepoint=timepoint)
    if format == "phenix":
        from hcs_steps.plate.ingest.phenix import phenix_source

        return phenix_source(path, missing=missing, timepoint=timepoint)
    if pattern is None:
        raise PlateDataError("format 'pattern' needs pattern=<regex with named groups>")
    from hcs_steps.plate.ingest.pattern import pattern_source

    return pattern_source(path, pattern, missing=missing)


def ingest_well(source: Source, well: str, out_plate, **write_options) -> Path:
    """Read ``well`` from ``source`` and write it into ``out_plate`` (atomically).

    The well's provenance lists the source format, folder and files and the checksum of
    the data read. ``write_options`` go to :func:`~hcs_steps.plate.write_well`.
    """
    well = canonical_well(well)
    data = source.read_well(well)
    expected = (source.field_count, len(source.channel_names), *source.shape_zyx)
    if data.shape != expected or data.dtype != source.dtype:
        raise PlateDataError(
            f"plate {source.name}, well {well}: read {data.shape} {data.dtype}, but the "
            f"plate's other wells are {expected} {source.dtype}"
        )
    provenance = {
        "step": "ingest",
        "function": "hcs_steps.plate.ingest_well",
        "parameters": {"format": source.format, "source": str(source.path), "well": well},
        "source_files": source.well_files(well),
        "input_checksum": array_checksum(data),
    }
    return write_well(
        out_plate,
        well,
        data,
        channel_names=source.channel_names,
        provenance=provenance,
        pixel_size_zyx=source.pixel_size_zyx,
        **write_options,
    )


def ingest_plate(source: Source, out_plate, wells=None, **write_options) -> PlateLayout:
    """Ingest ``wells`` (default: all) of ``source``, then write the plate metadata.

    Examples
    --------
    >>> import tempfile
    >>> layout = ingest_plate(open_source(None, "demo"), tempfile.mkdtemp() + "/d.zarr",
    ...                       wells=["B02"])
    >>> layout.wells, layout.field_count, layout.attributes["known_counts"]["B02"][0]["objects"]
    (['B02'], 2, 3)
    """
    wells = [canonical_well(w) for w in (source.wells if wells is None else wells)]
    unknown = sorted(set(wells) - set(source.wells))
    if unknown:
        raise PlateDataError(f"plate {source.name} has no wells {unknown}")
    for well in wells:
        ingest_well(source, well, out_plate, **write_options)
    extra = {"source_format": source.format, **source.attributes}
    if "known_counts" in extra:
        extra["known_counts"] = {w: extra["known_counts"][w] for w in wells}
    write_plate_metadata(
        out_plate,
        name=source.name,
        wells=wells,
        channel_names=source.channel_names,
        field_count=source.field_count,
        extra=extra,
        ngff_version=write_options.get("ngff_version"),
    )
    return open_plate(out_plate)


def build_demo_plate(path) -> PlateLayout:
    """Build the demo plate (see :mod:`hcs_steps.plate.demo`) at ``path``; seconds, offline."""
    return ingest_plate(open_source(None, "demo"), path)
