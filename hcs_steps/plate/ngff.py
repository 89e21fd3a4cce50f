"""OME-NGFF metadata of plates, wells and field images, versions 0.4 and 0.5.

Writing goes through ``ome_zarr.writer`` (the maintained implementation of the spec) on a
scratch group; the resulting metadata file(s) are then placed atomically. Reading parses the
JSON directly, so nothing in a foreign store is instantiated before it has been checked.
``ome_zarr`` is imported only when writing: it pulls in dask and takes about a second,
which a job that only reads wells should not pay.

Why reading does not validate through ``ome-zarr-models`` (pydantic models of NGFF 0.4 and
0.5; version 1.7 checked, 1.8.1 is on PyPI for Python 3.11):

- Importing it imports zarr and pydantic: 2.5-3 s measured here, against 0.1 s for
  :mod:`hcs_steps.plate`. Every Snakefile parse opens the plates' metadata, and on a cluster
  every job parses the Snakefile; reading JSON keeps that free of zarr (see
  :mod:`hcs_steps.plate.reader`).
- It accepts what the reader must refuse: a plate well whose ``rowIndex`` is past the
  ``rows`` list validates (1.7), and it does not look whether the wells and fields the
  metadata lists exist, nor at an array's dtype and codecs (:mod:`hcs_steps.plate.checks`);
  those checks would stay here either way.
- Its errors are pydantic's ("1 validation error for Plate ..."), naming neither the plate's
  path nor the well; the reader's name plate, well, field and path.

The writers' output is still checked against the spec by two independent validators,
yaozarrs and ngff-zarr, in the tests (``tests/ngff_validation.py``).
"""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

from hcs_steps.plate.atomic import temporary_sibling, write_file_atomically
from hcs_steps.plate.errors import PlateDataError

DEFAULT_VERSION = "0.5"
VERSIONS = ("0.4", "0.5")
# Metadata files of a group, in the order they must appear (attributes last).
_GROUP_FILES = {3: ("zarr.json",), 2: (".zgroup", ".zattrs")}


def ngff_format(version: str):
    """The ``ome_zarr`` format object for an NGFF ``version`` (``"0.4"`` or ``"0.5"``).

    Examples
    --------
    >>> ngff_format("0.5").zarr_format, ngff_format("0.4").zarr_format
    (3, 2)
    """
    from ome_zarr.format import FormatV04, FormatV05

    if str(version) not in VERSIONS:
        raise PlateDataError(f"NGFF version {version!r} is not supported: use one of {VERSIONS}")
    return FormatV04() if str(version) == "0.4" else FormatV05()


def ome_zarr_writer():
    """``ome_zarr.writer``, imported without the warning ome-zarr 0.18 gives on import.

    The module builds a deprecated ``Scaler`` as a default argument at import time, which
    warns every user of the module; nothing here uses ``Scaler``.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Call to deprecated class Scaler", DeprecationWarning)
        from ome_zarr import writer
    return writer


def zarr_format_of(directory: Path) -> int | None:
    """2 or 3 for a zarr group/array directory, ``None`` when it holds no zarr metadata."""
    if (directory / "zarr.json").is_file():
        return 3
    if (directory / ".zgroup").is_file() or (directory / ".zarray").is_file():
        return 2
    return None


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_bytes())
    except (OSError, ValueError) as error:
        raise PlateDataError(f"cannot read zarr metadata {path}: {error}") from error


def read_attributes(directory: Path) -> tuple[dict, dict, str | None]:
    """``(ome, attributes, version)`` of the group at ``directory``.

    ``ome`` holds the NGFF keys (``plate``, ``well``, ``multiscales``, ``omero``) for both
    versions: 0.5 nests them under ``"ome"``, 0.4 keeps them at the top level.
    """
    zarr_format = zarr_format_of(directory)
    if zarr_format == 3:
        document = _read_json(directory / "zarr.json")
        if document.get("node_type") != "group":
            raise PlateDataError(f"{directory} is a zarr {document.get('node_type')}, not a group")
        attributes = document.get("attributes") or {}
        ome = attributes.get("ome") or {}
        return ome, attributes, ome.get("version")
    if zarr_format == 2:
        attrs_file = directory / ".zattrs"
        attributes = _read_json(attrs_file) if attrs_file.is_file() else {}
        version = None
        for key in ("plate", "well"):
            version = version or (attributes.get(key) or {}).get("version")
        for multiscale in attributes.get("multiscales") or []:
            version = version or multiscale.get("version")
        return attributes, attributes, version
    raise PlateDataError(f"no zarr group at {directory} (no zarr.json, .zgroup or .zattrs)")


def render_group(directory: Path, version: str, write, extra_attributes=None) -> None:
    """Create or replace the group metadata at ``directory`` atomically.

    ``write(group, fmt)`` fills a scratch zarr group using ``ome_zarr.writer``; its
    metadata files are then renamed over ``directory``'s.
    """
    import zarr  # not on import: see hcs_steps.plate.reader

    fmt = ngff_format(version)
    directory.mkdir(parents=True, exist_ok=True)
    scratch = temporary_sibling(directory / "meta")
    try:
        group = zarr.open_group(scratch, mode="w", zarr_format=fmt.zarr_format)
        write(group, fmt)
        if extra_attributes:
            group.attrs.update(extra_attributes)
        for name in _GROUP_FILES[fmt.zarr_format]:
            write_file_atomically(directory / name, (scratch / name).read_bytes())
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def ensure_group(directory: Path, version: str) -> None:
    """Create a plain group at ``directory`` unless one exists (safe under concurrency).

    An existing group file is left alone without writing one that would lose the race
    anyway: every well of a row ensures the row's group, and each write is two ``fsync``
    calls."""
    fmt = ngff_format(version)
    if fmt.zarr_format == 3:
        name = "zarr.json"
        document = json.dumps({"zarr_format": 3, "node_type": "group", "attributes": {}})
    else:
        name, document = ".zgroup", '{"zarr_format": 2}'
    if (directory / name).is_file():
        return
    directory.mkdir(parents=True, exist_ok=True)
    write_file_atomically(directory / name, document.encode(), keep_existing=True)


def plate_metadata_writer(*, name, rows, columns, well_paths, field_count):
    """A ``write(group, fmt)`` callable that writes NGFF plate metadata."""

    def write(group, fmt):
        ome_zarr_writer().write_plate_metadata(
            group,
            rows,
            columns,
            well_paths,
            fmt=fmt,
            name=name,
            field_count=field_count,
            acquisitions=[{"id": 0, "name": name, "maximumfieldcount": field_count}],
        )

    return write


def well_metadata(group, field_paths, fmt) -> None:
    """Write NGFF well metadata listing ``field_paths`` (all in acquisition 0)."""
    images = [{"path": p, "acquisition": 0} for p in field_paths]
    ome_zarr_writer().write_well_metadata(group, images, fmt=fmt)


def spatial_axes(scale_zyx) -> tuple[list[dict], list[float]]:
    """The ``z, y, x`` axes and their scale: micrometres when ``scale_zyx`` is known.

    Examples
    --------
    >>> axes, scale = spatial_axes((2.0, 0.5, 0.5))
    >>> [axis["name"] for axis in axes], axes[0]["unit"], scale
    (['z', 'y', 'x'], 'micrometer', [2.0, 0.5, 0.5])
    """
    unit = {"unit": "micrometer"} if scale_zyx is not None else {}
    axes = [{"name": axis, "type": "space", **unit} for axis in "zyx"]
    return axes, [float(s) for s in (scale_zyx or (1.0, 1.0, 1.0))]


def image_metadata(group, fmt, *, array_path, channel_names, windows, scale_zyx, name) -> None:
    """Write single-resolution ``multiscales`` (``c, z, y, x``) and ``omero`` channels."""
    space, space_scale = spatial_axes(scale_zyx)
    axes = [{"name": "c", "type": "channel"}, *space]
    scale = [1.0, *space_scale]
    channels = [
        {
            "label": label,
            "active": True,
            "color": "FFFFFF",
            "window": {"min": lo, "max": hi, "start": lo, "end": hi},
        }
        for label, (lo, hi) in zip(channel_names, windows, strict=True)
    ]
    ome_zarr_writer().write_multiscales_metadata(
        group,
        [{"path": array_path, "coordinateTransformations": [{"type": "scale", "scale": scale}]}],
        fmt=fmt,
        axes=axes,
        name=name,
        metadata={"omero": {"channels": channels}},
    )


def relative_member(path, where: str) -> str:
    """``path`` when it names something inside its group: relative, no ``..``, not empty.

    Paths in metadata are joined to the plate directory; refusing anything else keeps a
    crafted plate from pointing reads outside itself.

    Examples
    --------
    >>> relative_member("B/03", "plate")
    'B/03'
    >>> relative_member("../../etc", "plate")
    Traceback (most recent call last):
    ...
    hcs_steps.plate.errors.PlateDataError: plate lists path '../../etc': expected a path \
inside the group (relative, without '..')
    """
    if (
        not isinstance(path, str)
        or "\\" in path
        or any(
            part in ("", ".", "..")
            for part in path.split("/")  # "" also catches "/abs" and "a//b"
        )
    ):
        raise PlateDataError(
            f"{where} lists path {path!r}: expected a path inside the group (relative, "
            "without '..')"
        )
    return path


def multiscale_info(ome: dict, where: str) -> tuple[str, list[str], list[float] | None]:
    """``(array_path, axis_names, scale)`` of the full-resolution dataset of an image group."""
    multiscales = ome.get("multiscales")
    if not multiscales or not multiscales[0].get("datasets"):
        raise PlateDataError(f"{where} has no multiscales datasets: not an NGFF image")
    multiscale = multiscales[0]
    axes = [a["name"] if isinstance(a, dict) else a for a in multiscale.get("axes", "tczyx")]
    dataset = multiscale["datasets"][0]
    scale = None
    for transform in dataset.get("coordinateTransformations") or []:
        if transform.get("type") == "scale":
            scale = transform.get("scale")
    return relative_member(dataset.get("path"), where), axes, scale


def channel_labels(ome: dict, count: int) -> list[str]:
    """Channel names from ``omero`` metadata, ``c0``, ``c1``... where absent."""
    channels = (ome.get("omero") or {}).get("channels") or []
    labels = [c.get("label") for c in channels]
    if len(labels) != count or not all(labels):
        return [f"c{i}" for i in range(count)]
    return labels
