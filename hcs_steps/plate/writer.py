"""Write wells atomically and, once all wells exist, the plate's metadata.

``write_well`` (or :class:`WellWriter`, one field at a time) touches only its own well
directory (built in a temporary sibling, then renamed), plus the plate and row groups when
they do not exist yet; per-well jobs of one plate can therefore run in parallel processes.
``write_plate_metadata`` runs once at the end.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from hcs_steps.plate import ngff
from hcs_steps.plate.atomic import publish_directory, temporary_sibling
from hcs_steps.plate.codecs import DEFAULT_CODEC
from hcs_steps.plate.errors import PlateDataError
from hcs_steps.plate.field_writer import FieldWriter
from hcs_steps.plate.layout import parse_well, plate_grid, plate_well_path, sort_wells
from hcs_steps.plate.provenance import library_versions

PROVENANCE_KEY = "hcs_steps"


def plate_version(plate: Path, requested: str | None) -> str:
    """The NGFF version to write into ``plate``: its existing one, else ``requested``/0.5."""
    if ngff.zarr_format_of(plate) is not None:
        existing = ngff.read_attributes(plate)[2] or (
            "0.5" if ngff.zarr_format_of(plate) == 3 else "0.4"
        )
        if requested is not None and requested != existing:
            raise PlateDataError(
                f"plate {plate} is NGFF {existing}; cannot add a well as NGFF {requested}"
            )
        return existing
    return requested or ngff.DEFAULT_VERSION


def _check_well_data(well: str, data, channel_names) -> np.ndarray:
    data = np.asarray(data)
    if data.ndim != 5:
        raise PlateDataError(
            f"well {well}: data has shape {data.shape} ({data.ndim}D); expected 5D "
            "(fields, channels, Z, Y, X), with Z=1 for 2D images"
        )
    if data.dtype.kind not in "biuf":
        raise PlateDataError(f"well {well}: dtype {data.dtype} is not numeric")
    if min(data.shape) == 0:
        raise PlateDataError(f"well {well}: data has an empty axis, shape {data.shape}")
    if len(channel_names) != data.shape[1]:
        raise PlateDataError(
            f"well {well}: {len(channel_names)} channel names {list(channel_names)} for "
            f"{data.shape[1]} channels"
        )
    return data


class WellWriter:
    """Write one well field by field; the well appears in the plate, complete, on publish.

    Fields are built in a hidden temporary sibling of the well's directory and renamed into
    place by :meth:`publish` (see :mod:`hcs_steps.plate.atomic`), so a well never has to be
    whole in memory to be written atomically; :meth:`field` writes a field channel by
    channel. The first field fixes the well's shape and dtype; later fields must have the
    same shape and a dtype that casts to it safely.
    Used as a context manager, a well left unpublished by an error is discarded.
    """

    def __init__(
        self,
        plate,
        well: str,
        *,
        fields: int,
        channel_names,
        provenance: dict | None = None,
        pixel_size_zyx=None,
        codec: str = DEFAULT_CODEC,
        chunk_planes: int | None = None,
        ngff_version: str | None = None,
    ):
        self.plate, self.well = Path(plate), well
        row, _ = parse_well(well)
        self.fields, self.channel_names = fields, list(channel_names)
        self.provenance, self.pixel_size_zyx = dict(provenance or {}), pixel_size_zyx
        self.codec, self.chunk_planes = codec, chunk_planes
        version = plate_version(self.plate, ngff_version)
        self.fmt = ngff.ngff_format(version)
        ngff.ensure_group(self.plate, version)
        ngff.ensure_group(self.plate / row, version)
        self.final = plate_well_path(self.plate, well)
        self.tmp = temporary_sibling(self.final)
        import zarr  # not on import: see hcs_steps.plate.reader

        self.group = zarr.open_group(self.tmp, mode="w", zarr_format=self.fmt.zarr_format)
        self.written: list[str] = []
        self.open_field: FieldWriter | None = None
        self.shape_dtype = None
        self.checksum = None

    def field(self) -> FieldWriter:
        """The next field, to write channel by channel (:class:`FieldWriter`): a job then
        holds one channel of results at a time, not a whole field."""
        index = len(self.written)
        if self.open_field is not None:
            raise PlateDataError(f"well {self.well}, field {index}: the field before is unfinished")
        if index >= self.fields:
            raise PlateDataError(
                f"well {self.well}, field {index}: the well was opened for {self.fields} field(s)"
            )
        self.open_field = FieldWriter(self, index)
        return self.open_field

    def field_finished(self, field: FieldWriter) -> None:
        """Called by ``field`` once its labels and metadata are written."""
        self.written.append(str(field.index))
        self.open_field = None

    def write_field(self, channels, labels=None) -> None:
        """Write the next field: one ``(Z, Y, X)`` stack per channel (or a 4D array).

        ``labels`` (name -> integer ``(Z, Y, X)`` array of the field's shape) become the
        field image's OME-NGFF labels ``<field>/labels/<name>`` (see
        :mod:`hcs_steps.plate.labels`); they are not channels, so a step reading the well
        reads the channels only.
        """
        field = self.field()
        for stack in channels:
            field.write_channel(stack)
        field.finish(labels)

    def publish(self) -> Path:
        """Write the well's metadata and provenance, then move the well into the plate."""
        if len(self.written) != self.fields:
            raise PlateDataError(
                f"well {self.well}: {len(self.written)} of {self.fields} field(s) written"
            )
        ngff.well_metadata(self.group, self.written, self.fmt)
        record = self.provenance
        record["library_versions"] = {**library_versions(), **record.get("library_versions", {})}
        record["output_checksum"] = self.checksum.hexdigest()
        self.group.attrs[PROVENANCE_KEY] = {"provenance": record, "well": self.well}
        publish_directory(self.tmp, self.final)
        return self.final

    def discard(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.discard()  # after publish the temporary directory is gone: nothing to do


def write_well(
    plate,
    well: str,
    data,
    *,
    channel_names,
    provenance: dict | None = None,
    pixel_size_zyx=None,
    codec: str = DEFAULT_CODEC,
    chunk_planes: int | None = None,
    ngff_version: str | None = None,
) -> Path:
    """Write one well's images ``(fields, channels, Z, Y, X)`` into ``plate``, atomically.

    Each field becomes an image group ``<well>/<f>`` with one ``c, z, y, x`` array chunked
    in ``chunk_planes`` planes, ``omero`` channel names and, on the well group, provenance under
    ``attributes["hcs_steps"]["provenance"]``: the given ``provenance`` (step, function,
    parameters, input checksum, library versions...) plus the versions of numpy, zarr,
    numcodecs, ome-zarr, tifffile and hcs-steps, and the output's checksum.
    Plate-level metadata is not written (see :func:`write_plate_metadata`); to write a well
    one field at a time, use :class:`WellWriter`.

    Parameters
    ----------
    plate : path
        The plate directory (``*.zarr``); created when missing.
    well : str
        Well name such as ``"B03"``.
    data : array-like
        5D numeric array.
    channel_names : sequence of str
        One name per channel.
    provenance : dict, optional
        JSON-serialisable description of what produced ``data``.
    pixel_size_zyx : tuple of float, optional
        Physical pixel size in micrometres.
    codec : str
        One of :data:`hcs_steps.plate.codecs.CODECS`.
    chunk_planes : int, optional
        Z planes per chunk (a chunk is one channel's ``chunk_planes`` x Y x X); default:
        as many as fit in :data:`~hcs_steps.plate.field_writer.CHUNK_TARGET_BYTES`, at least one.
    ngff_version : str, optional
        ``"0.5"`` (default for new plates) or ``"0.4"``; must match an existing plate.

    Returns
    -------
    Path
        The well's directory.

    Examples
    --------
    >>> import tempfile
    >>> from hcs_steps.plate import read_well
    >>> plate = tempfile.mkdtemp() + "/p.zarr"
    >>> data = np.arange(2 * 1 * 3 * 4 * 5, dtype=np.uint16).reshape(2, 1, 3, 4, 5)
    >>> _ = write_well(plate, "B03", data, channel_names=["DAPI"])
    >>> bool((read_well(plate, "B03") == data).all())
    True
    """
    data = _check_well_data(well, data, list(channel_names))
    with WellWriter(
        plate,
        well,
        fields=data.shape[0],
        channel_names=channel_names,
        provenance=provenance,
        pixel_size_zyx=pixel_size_zyx,
        codec=codec,
        chunk_planes=chunk_planes,
        ngff_version=ngff_version,
    ) as writer:
        for field in data:
            writer.write_field(field)
        return writer.publish()


def write_plate_metadata(
    plate,
    *,
    name: str,
    wells,
    channel_names=None,
    field_count: int | None = None,
    rows=None,
    columns=None,
    extra: dict | None = None,
    ngff_version: str | None = None,
) -> Path:
    """Write the plate group's NGFF metadata for ``wells``, atomically; run after all wells.

    Refuses wells whose directory is missing, so the metadata never lists absent data.
    ``rows``/``columns`` default to the smallest standard format (96, 384, 1536...) that
    holds the wells; ``field_count`` defaults to the largest number of fields in a well.
    ``channel_names`` and ``extra`` are stored under ``attributes["hcs_steps"]``.

    Examples
    --------
    >>> import tempfile
    >>> from hcs_steps.plate import open_plate
    >>> plate = tempfile.mkdtemp() + "/p.zarr"
    >>> _ = write_well(plate, "A01", np.zeros((1, 1, 1, 8, 8), np.uint8), channel_names=["x"])
    >>> _ = write_plate_metadata(plate, name="demo", wells=["A01"])
    >>> layout = open_plate(plate)
    >>> layout.wells, len(layout.rows), layout.field_count
    (['A01'], 8, 1)
    """
    plate = Path(plate)
    wells = sort_wells(wells)
    missing = [w for w in wells if ngff.zarr_format_of(plate_well_path(plate, w)) is None]
    if missing:
        raise PlateDataError(f"plate {plate}: cannot list wells {missing}: they were not written")
    version = plate_version(plate, ngff_version)
    if field_count is None:
        field_count = max(
            len(ngff.read_attributes(plate_well_path(plate, w))[0]["well"]["images"]) for w in wells
        )
    grid_rows, grid_columns = plate_grid(wells)
    rows, columns = list(rows or grid_rows), list(columns or grid_columns)
    well_paths = ["/".join(parse_well(w)) for w in wells]
    info = {"channel_names": list(channel_names or []), **(extra or {})}
    ngff.render_group(
        plate,
        version,
        ngff.plate_metadata_writer(
            name=name, rows=rows, columns=columns, well_paths=well_paths, field_count=field_count
        ),
        extra_attributes={PROVENANCE_KEY: info},
    )
    return plate
