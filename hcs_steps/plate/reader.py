"""Open plates and read wells, NGFF 0.4 or 0.5, into 64-byte-aligned buffers.

Array paths, axes and channel names come from the metadata; every array is checked
(:mod:`hcs_steps.plate.checks`) before zarr opens it, and a chunk that fails to decode is
reported with its well, field and chunk key.

A chunk that is not stored at all is an error too, whoever wrote the plate: zarr would read
it as the array's fill value, and a field of zeros counts "0 cells", which looks like a
toxic compound rather than a lost file. Writers may leave out chunks that hold only the fill
value (zarr 3 does so by default); for such plates ``missing_chunks="fill"`` reads them as
zarr does, and :meth:`WellImages.missing_chunks` says which were filled.

zarr is imported only where chunks are read or written: opening a plate reads JSON, and
that is all a Snakefile parse (every cluster job) needs; importing zarr takes most of a second.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hcs_steps.buffers import aligned_empty
from hcs_steps.plate import ngff
from hcs_steps.plate.checks import ArrayInfo, check_array
from hcs_steps.plate.errors import PlateDataError
from hcs_steps.plate.layout import canonical_well, plate_well_path, sort_wells

MISSING_CHUNK_POLICIES = ("error", "fill")
# Errors codecs raise on damaged bytes: blosc/zstd raise RuntimeError, the bytes codec a
# ValueError when a chunk has the wrong size, numcodecs a TypeError on short buffers.
CHUNK_ERRORS = (RuntimeError, ValueError, TypeError, OSError)


@dataclass(frozen=True)
class PlateLayout:
    """What a plate holds, from its metadata.

    ``wells`` are canonical names in plate order; ``rows``/``columns`` the plate grid's
    names; ``field_count`` the most fields in a well; ``channel_names``, ``shape_zyx`` and
    ``dtype`` those of the first well's first field. ``well_paths`` maps well names to
    their group paths in the plate, ``attributes`` holds what hcs_steps stored with the
    plate (``channel_names``, ``source_format``, ``known_counts``...).
    """

    name: str
    rows: list[str]
    columns: list[str]
    wells: list[str]
    field_count: int
    channel_names: list[str]
    shape_zyx: tuple[int, int, int]
    dtype: np.dtype
    ngff_version: str
    path: Path | None = None
    well_paths: dict[str, str] = field(default_factory=dict, repr=False)
    attributes: dict = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class FieldImage:
    """One field of view: where its full-resolution array is and how its axes map."""

    array_dir: Path
    axes: list[str]
    info: ArrayInfo
    channel_names: list[str]

    @property
    def shape_czyx(self) -> tuple[int, int, int, int]:
        sizes = dict(zip(self.axes, self.info.shape, strict=True))
        return tuple(sizes.get(axis, 1) for axis in "czyx")


def _index_in(index, names: list) -> bool:
    return isinstance(index, int) and not isinstance(index, bool) and 0 <= index < len(names)


def _plate_well_paths(plate: Path, meta: dict) -> dict[str, str]:
    """Canonical well name -> group path, from the plate's parsed NGFF ``plate`` metadata."""
    rows = [r["name"] for r in meta.get("rows", [])]
    columns = [c["name"] for c in meta.get("columns", [])]
    paths = {}
    for entry in meta.get("wells", []):
        path = ngff.relative_member(entry.get("path"), f"plate {plate}")
        if "rowIndex" in entry:
            row, column = entry.get("rowIndex"), entry.get("columnIndex")
            if not (_index_in(row, rows) and _index_in(column, columns)):
                raise PlateDataError(
                    f"plate {plate}: well {entry.get('path')!r} has rowIndex {row!r} and "
                    f"columnIndex {column!r}; the plate has {len(rows)} rows and "
                    f"{len(columns)} columns (indices from 0)"
                )
            name = rows[row] + columns[column]
            if path != f"{rows[row]}/{columns[column]}":
                raise PlateDataError(
                    f"plate {plate}: well {entry.get('path')!r} has rowIndex {row} and "
                    f"columnIndex {column}, which name row {rows[row]!r} and column "
                    f"{columns[column]!r}: its path must be '{rows[row]}/{columns[column]}'"
                )
        else:
            name = entry["path"].replace("/", "")
        paths[canonical_well(name)] = path
    return paths


def _listed_well_paths(plate: Path) -> dict[str, str]:
    """The wells the plate metadata lists; ``{}`` for a plate without (yet) any."""
    try:
        ome = ngff.read_attributes(plate)[0]
    except PlateDataError:
        # None at all, or gone while it was read: Snakemake removes a result plate's
        # metadata when its plate_metadata job starts, while later segments read its wells.
        if ngff.zarr_format_of(plate) is None:
            return {}
        raise
    return _plate_well_paths(plate, ome.get("plate") or {})


def _well_directory(plate: Path, well: str, well_paths: dict[str, str]) -> Path:
    path = well_paths.get(canonical_well(well))
    return plate / path if path is not None else plate_well_path(plate, well)


def well_directory(plate, well: str) -> Path:
    """The well's group directory: from the plate metadata, else ``<plate>/<row>/<column>``."""
    plate = Path(plate)
    return _well_directory(plate, well, _listed_well_paths(plate))


def _field_image(field_dir: Path, where: str) -> FieldImage:
    ome = ngff.read_attributes(field_dir)[0]
    array_path, axes, _ = ngff.multiscale_info(ome, where)
    array_dir = field_dir / array_path
    info = check_array(array_dir)
    if len(axes) != len(info.shape):
        raise PlateDataError(f"{where}: {len(axes)} axes {axes} for a {len(info.shape)}D array")
    extra = [a for a, n in zip(axes, info.shape, strict=True) if a not in "czyx" and n != 1]
    if extra or axes[-2:] != ["y", "x"]:
        raise PlateDataError(
            f"{where}: axes {axes} with shape {info.shape}; expected (c, z, y, x) where "
            "missing c or z count as 1 and other axes have size 1"
        )
    sizes = dict(zip(axes, info.shape, strict=True))
    names = ngff.channel_labels(ome, sizes.get("c", 1))
    return FieldImage(array_dir, axes, info, names)


def well_fields(plate, well: str) -> list[FieldImage]:
    """The field images of ``well`` in the order its metadata lists them."""
    return _well_fields(plate, well, well_directory(plate, well))


def _well_fields(plate, well: str, directory: Path) -> list[FieldImage]:
    if ngff.zarr_format_of(directory) is None:
        raise PlateDataError(f"plate {plate}: well {well} is missing (no group at {directory})")
    ome = ngff.read_attributes(directory)[0]
    images = (ome.get("well") or {}).get("images")
    if not images:
        raise PlateDataError(f"plate {plate}: well {well} has no 'well' images metadata")
    fields = []
    for index, image in enumerate(images):
        where = f"plate {plate}, well {well}, field {index} ({image.get('path')})"
        field_dir = directory / ngff.relative_member(image.get("path"), where)
        if ngff.zarr_format_of(field_dir) is None:
            raise PlateDataError(f"{where} is listed in the well metadata but missing")
        fields.append(_field_image(field_dir, where))
    return fields


def _select(requested, available: list, what: str, where: str) -> list[int]:
    if requested is None:
        return list(range(len(available)))
    indices = []
    for item in [requested] if isinstance(requested, int | str) else requested:
        if isinstance(item, str) and item in available:
            indices.append(available.index(item))
        elif isinstance(item, int | np.integer) and 0 <= item < len(available):
            indices.append(int(item))
        else:
            raise PlateDataError(f"{where}: no {what} {item!r}; available: {available}")
    return indices


@dataclass(frozen=True)
class WellImages:
    """A well's selected fields and channels, read one channel of one field at a time.

    ``shape`` is ``(fields, channels, Z, Y, X)`` of what :meth:`read` yields; nothing but
    metadata is read until :meth:`read` is called. ``missing_chunks`` is what a chunk that
    is not stored does: ``"error"`` raises naming it, ``"fill"`` reads the fill value.
    """

    where: str
    images: list[FieldImage]
    field_ids: list[int]
    channel_ids: list[int]
    shape_zyx: tuple[int, int, int]
    dtype: np.dtype
    missing_chunks: str = "error"

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.field_ids), len(self.channel_ids), *self.shape_zyx)

    def read(self, field: int, channel: int, out: np.ndarray | None = None) -> np.ndarray:
        """The ``(Z, Y, X)`` stack of the ``channel``-th selected channel of a selected field."""
        if out is None:
            out = aligned_empty(self.shape_zyx, self.dtype)
        f, c = self.field_ids[field], self.channel_ids[channel]
        where = f"{self.where}, field {f}, channel {c}"
        if self.missing_chunks == "error":
            _refuse_missing_chunks(self.images[f], c, where)
        _read_channel(self.images[f], c, out, where)
        return out

    def missing_chunks_of(self, field: int, channel: int) -> list[str]:
        """Keys of the chunks of the ``channel``-th selected channel of a selected field
        that are not stored (read as the fill value under ``missing_chunks="fill"``)."""
        f, c = self.field_ids[field], self.channel_ids[channel]
        return missing_chunk_keys(self.images[f], c)


def open_well(
    plate, well: str, *, fields=None, channels=None, missing_chunks: str = "error"
) -> WellImages:
    """Open a well for reading field by field, channel by channel (see :func:`read_well`).

    Examples
    --------
    >>> import tempfile
    >>> from hcs_steps.plate import write_well
    >>> plate = tempfile.mkdtemp() + "/p.zarr"
    >>> _ = write_well(plate, "B03", np.ones((3, 2, 1, 4, 4), np.uint8), channel_names=["a", "b"])
    >>> well = open_well(plate, "B03", channels=["b"])
    >>> well.shape, well.read(2, 0).shape
    ((3, 1, 1, 4, 4), (1, 4, 4))
    """
    if missing_chunks not in MISSING_CHUNK_POLICIES:
        raise PlateDataError(
            f"missing_chunks={missing_chunks!r}: expected one of {MISSING_CHUNK_POLICIES}"
        )
    well = canonical_well(well)
    images = well_fields(plate, well)
    where = f"plate {plate}, well {well}"
    field_ids = _select(fields, list(range(len(images))), "field", where)
    shapes = {images[f].shape_czyx[1:] for f in field_ids}
    dtypes = {images[f].info.dtype for f in field_ids}
    if len(shapes) > 1 or len(dtypes) > 1:
        raise PlateDataError(f"{where}: fields differ in shape {shapes} or dtype {dtypes}")
    channel_ids = _select(channels, images[field_ids[0]].channel_names, "channel", where)
    return WellImages(
        where, images, field_ids, channel_ids, shapes.pop(), dtypes.pop(), missing_chunks
    )


def read_well(
    plate, well: str, *, fields=None, channels=None, missing_chunks: str = "error"
) -> np.ndarray:
    """Read a well as a 64-byte-aligned ``(fields, channels, Z, Y, X)`` array.

    Parameters
    ----------
    plate : path
        The plate directory (NGFF 0.4 or 0.5).
    well : str
        Well name, e.g. ``"B03"``.
    fields, channels : int, str or sequence, optional
        Field indices; channel indices or names. Default: all, in metadata order.
    missing_chunks : {"error", "fill"}
        What a chunk that is not stored does: raise, or read as the array's fill value
        (for writers that leave out chunks holding only the fill value).

    Raises
    ------
    PlateDataError
        For a missing well or field, an unsafe array, or a chunk that is missing or cannot
        be decoded (the message names the well, field and chunk key).
    """
    images = open_well(plate, well, fields=fields, channels=channels, missing_chunks=missing_chunks)
    out = aligned_empty(images.shape, images.dtype)
    for f in range(out.shape[0]):
        for c in range(out.shape[1]):
            images.read(f, c, out[f, c])
    return out


def _channel_selection(image: FieldImage, channel: int) -> tuple:
    c_axis = image.axes.index("c") if "c" in image.axes else None
    return tuple(
        slice(channel, channel + 1) if i == c_axis else slice(None) for i in range(len(image.axes))
    )


def missing_chunk_keys(image: FieldImage, channel: int) -> list[str]:
    """Keys of the chunks holding ``channel`` of ``image`` that have no file in its store.

    The keys that must exist follow from the array's shape and chunk grid (the shard grid
    of a sharded array); zarr's own encoder spells them for the array's chunk key encoding
    (v3 ``default`` or ``v2``, ``/`` or ``.`` separators), so every store layout the specs
    allow is checked the same way. A sharded array's inner chunks are not checked: a
    shard's index, not the file system, says which of them are stored.
    """
    import zarr

    metadata = zarr.open_array(image.array_dir, mode="r").metadata
    keys = (
        _chunk_key(metadata, image, chunk)
        for chunk in _chunk_selections(image, _channel_selection(image, channel))
    )
    return [key for key in keys if not (image.array_dir / key).is_file()]


def _refuse_missing_chunks(image: FieldImage, channel: int, where: str) -> None:
    missing = missing_chunk_keys(image, channel)
    if missing:
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        raise PlateDataError(
            f"{where}: chunk {', '.join(missing[:5])}{more} of {image.array_dir} is missing; "
            "zarr would read it as the fill value. If the plate's writer leaves out chunks "
            "that hold only the fill value, read with missing_chunks='fill' (workflow: "
            "plates.<name>.missing_chunks: fill)"
        )


def _read_channel(image: FieldImage, channel: int, out: np.ndarray, where: str) -> None:
    """Decode one channel of one field straight into ``out`` (``(Z, Y, X)``).

    One zarr call lets zarr decode the chunks concurrently; only when it fails are the
    chunks read one by one, to name the damaged one.
    """
    import zarr
    from zarr.core.buffer.cpu import NDBuffer

    array = zarr.open_array(image.array_dir, mode="r")
    c_axis = image.axes.index("c") if "c" in image.axes else None
    block_shape = tuple(1 if i == c_axis else n for i, n in enumerate(image.info.shape))
    selection = _channel_selection(image, channel)
    target = np.reshape(out, block_shape, copy=False)
    try:
        array.get_basic_selection(selection, out=NDBuffer.from_numpy_array(target))
    except CHUNK_ERRORS as error:
        chunks = _chunk_selections(image, selection)
        raise _locate_damage(array, image, chunks, where, error) from error


def _chunk_selections(image: FieldImage, selection: tuple):
    """The per-chunk selections that make up ``selection`` (whole axes or one channel)."""
    ranges = [
        [(s.start, s.stop)]
        if s.start is not None
        else [(start, min(start + k, n)) for start in range(0, n, k)]
        for s, n, k in zip(selection, image.info.shape, image.info.chunks, strict=True)
    ]
    for block in itertools.product(*ranges):
        yield tuple(slice(*bounds) for bounds in block)


def _chunk_key(metadata, image: FieldImage, chunk: tuple) -> str:
    coords = tuple(s.start // k for s, k in zip(chunk, image.info.chunks, strict=True))
    return metadata.encode_chunk_key(coords)


def _locate_damage(array, image: FieldImage, chunks, where: str, error) -> PlateDataError:
    for chunk in chunks:
        try:
            array.get_basic_selection(chunk)
        except CHUNK_ERRORS as chunk_error:
            key = _chunk_key(array.metadata, image, chunk)
            return PlateDataError(
                f"{where}: chunk {key} of {image.array_dir} is corrupt or truncated: {chunk_error}"
            )
    return PlateDataError(f"{where}: {image.array_dir} cannot be decoded: {error}")


def open_plate(plate, *, every_well: bool = True, first_well: str | None = None) -> PlateLayout:
    """Read a plate's layout from its NGFF metadata, checking every listed well and field.

    The plate metadata is read once, and each well's metadata once, whatever the number of
    wells. With ``every_well=False`` only one well is opened (for the channel names, shape
    and dtype): ``first_well`` where the plate lists it, else the first listed well. That is
    what planning a run needs, in the same time for 6 wells or 1536, and a run of some wells
    names the first of them, so that a bad well it leaves out cannot stop it; a missing or
    damaged well is then reported by whatever reads it.
    ``field_count`` is then the plate metadata's ``field_count`` where it has one.

    Examples
    --------
    >>> import tempfile
    >>> from hcs_steps.plate import write_well, write_plate_metadata
    >>> plate = tempfile.mkdtemp() + "/p.zarr"
    >>> _ = write_well(plate, "AA01", np.zeros((2, 1, 3, 8, 8), np.uint16), channel_names=["x"])
    >>> _ = write_plate_metadata(plate, name="p", wells=["AA01"])
    >>> layout = open_plate(plate)
    >>> layout.wells, len(layout.rows), layout.shape_zyx, layout.ngff_version
    (['AA01'], 32, (3, 8, 8), '0.5')
    """
    plate = Path(plate)
    if ngff.zarr_format_of(plate) is None:
        raise PlateDataError(f"no zarr plate at {plate}")
    ome, attributes, version = ngff.read_attributes(plate)
    meta = ome.get("plate")
    if not meta or not meta.get("wells"):
        raise PlateDataError(f"{plate} has no NGFF plate metadata listing wells")
    well_paths = _plate_well_paths(plate, meta)
    wells = sort_wells(well_paths)
    probe = first_well if first_well in well_paths else wells[0]
    opened = wells if every_well else [probe]
    fields = {w: _well_fields(plate, w, _well_directory(plate, w, well_paths)) for w in opened}
    first = fields[probe][0]
    field_count = max(len(f) for f in fields.values())
    if not every_well:
        field_count = meta.get("field_count") or field_count
    return PlateLayout(
        name=meta.get("name", plate.stem),
        rows=[r["name"] for r in meta["rows"]],
        columns=[c["name"] for c in meta["columns"]],
        wells=wells,
        field_count=field_count,
        channel_names=first.channel_names,
        shape_zyx=first.shape_czyx[1:],
        dtype=first.info.dtype,
        ngff_version=version or meta.get("version") or "0.4",
        path=plate,
        well_paths=well_paths,
        attributes=attributes.get("hcs_steps", {}),
    )
