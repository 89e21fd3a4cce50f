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
from hcs_steps.plate.codecs import DEFAULT_CODEC, codec_options
from hcs_steps.plate.errors import PlateDataError
from hcs_steps.plate.labels import LABELS_GROUP, check_field_labels, label_metadata
from hcs_steps.plate.layout import parse_well, plate_grid, plate_well_path, sort_wells
from hcs_steps.plate.provenance import StreamingChecksum, library_versions

ARRAY_PATH = "0"
# Chunks of about 4 MiB: whole planes, several of them when planes are small. Measured in
# benchmarks/plate_io.py: chunks of 8 planes of 512 x 512 read 1.5-1.8x and write 2x faster
# than chunks of one plane (blosc-lz4).
CHUNK_TARGET_BYTES = 4 << 20
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


def _check_field(where: str, channels: list[np.ndarray], channel_count: int) -> np.dtype:
    """The dtype a field's channels are written in; refuses what no plate array can hold."""
    if len(channels) != channel_count:
        raise PlateDataError(f"{where}: {len(channels)} channels for {channel_count} names")
    shapes = {stack.shape for stack in channels}
    if len(shapes) > 1:
        raise PlateDataError(f"{where}: channels differ in shape {sorted(shapes)}")
    shape = shapes.pop()
    dtype = np.result_type(*channels)
    if len(shape) != 3 or min(shape) == 0 or dtype.kind not in "biuf":
        raise PlateDataError(
            f"{where}: a channel is {shape} {dtype}; expected non-empty numeric (Z, Y, X)"
        )
    return dtype


class WellWriter:
    """Write one well field by field; the well appears in the plate, complete, on publish.

    Fields are built in a hidden temporary sibling of the well's directory and renamed into
    place by :meth:`publish` (see :mod:`hcs_steps.plate.atomic`), so a well never has to be
    whole in memory to be written atomically. The first field fixes the well's shape and
    dtype; later fields must have the same shape and a dtype that casts to it safely.
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
        self.shape_dtype = None
        self.checksum = None

    def write_field(self, channels, labels=None) -> None:
        """Write the next field: one ``(Z, Y, X)`` stack per channel (or a 4D array).

        ``labels`` (name -> integer ``(Z, Y, X)`` array of the field's shape) become the
        field image's OME-NGFF labels ``<field>/labels/<name>`` (see
        :mod:`hcs_steps.plate.labels`); they are not channels, so a step reading the well
        reads the channels only.
        """
        index = len(self.written)
        where = f"well {self.well}, field {index}"
        if index >= self.fields:
            raise PlateDataError(f"{where}: the well was opened for {self.fields} field(s)")
        channels = [np.asarray(stack) for stack in channels]
        dtype = _check_field(where, channels, len(self.channel_names))
        if self.shape_dtype is None:
            self.shape_dtype = (channels[0].shape, dtype)
            shape = (self.fields, len(channels), *channels[0].shape)
            self.checksum = StreamingChecksum(dtype, shape)
        shape, well_dtype = self.shape_dtype
        if channels[0].shape != shape or not np.can_cast(dtype, well_dtype, "safe"):
            raise PlateDataError(
                f"{where}: channels are {channels[0].shape} {dtype}, but field 0 was "
                f"{shape} {well_dtype}; every field of a well must have the same shape and dtype"
            )
        checked_labels = check_field_labels(where, labels or {}, shape)
        path = str(index)
        image = self.group.create_group(path)
        windows = _write_field(
            image, channels, well_dtype, self.fmt, self.codec, self.chunk_planes, self.checksum
        )
        if checked_labels:
            _write_labels(image, checked_labels, self.fmt, self.codec, self.pixel_size_zyx)
        ngff.image_metadata(
            image,
            self.fmt,
            array_path=ARRAY_PATH,
            channel_names=self.channel_names,
            windows=windows,
            scale_zyx=self.pixel_size_zyx,
            name=f"{self.well} field {path}",
        )
        self.written.append(path)

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
        as many as fit in :data:`CHUNK_TARGET_BYTES`, at least one.
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


def _create_array(group, shape, dtype, dimension_names, fmt, codec, chunk_planes):
    """A new array at ``ARRAY_PATH`` of ``group``: whole (Y, X) planes per chunk, one
    channel per chunk, ``chunk_planes`` planes (default: :data:`CHUNK_TARGET_BYTES`)."""
    extra = (
        {"dimension_names": dimension_names}
        if fmt.zarr_format == 3
        else {"chunk_key_encoding": fmt.chunk_key_encoding}
    )
    planes, y, x = shape[-3:]
    if chunk_planes is None:
        chunk_planes = max(1, CHUNK_TARGET_BYTES // (y * x * dtype.itemsize))
    # write_empty_chunks: every chunk exists on disk, so a missing chunk file means damage.
    return group.create_array(
        ARRAY_PATH,
        shape=shape,
        dtype=dtype,
        chunks=(*(1 for _ in shape[:-3]), min(chunk_planes, planes), y, x),
        fill_value=0,
        **codec_options(codec, fmt.zarr_format),
        config={"write_empty_chunks": True},
        **extra,
    )


def _write_labels(image, labels: dict[str, np.ndarray], fmt, codec, scale_zyx) -> None:
    """Write a field's label images as its OME-NGFF ``labels`` (their own dtype)."""
    group = image.create_group(LABELS_GROUP)
    for name, stack in labels.items():
        array = _create_array(
            group.create_group(name), stack.shape, stack.dtype, ("z", "y", "x"), fmt, codec, None
        )
        array[...] = stack
        label_metadata(group, name, fmt, array_path=ARRAY_PATH, scale_zyx=scale_zyx)


def _write_field(image, channels, dtype, fmt, codec, chunk_planes, checksum) -> list:
    """Write a field's channels one by one into a new array; return each channel's (min, max).

    One channel at a time is cast to the well's dtype, written and added to the checksum.
    """
    shape = (len(channels), *channels[0].shape)
    array = _create_array(image, shape, dtype, ("c", "z", "y", "x"), fmt, codec, chunk_planes)
    windows = []
    for index, stack in enumerate(channels):
        stack = stack.astype(dtype, copy=False)
        array[index] = stack
        checksum.update(stack)
        windows.append((float(stack.min()), float(stack.max())))
    return windows


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
