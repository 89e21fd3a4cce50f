"""OME-NGFF labels of a field image: the objects steps found, stored over their image.

A field's object sets (a count step's nuclei, ``grow_cells``' cells and cytoplasm) become
``<field>/labels/<name>/``, the layout every OME-Zarr reader (napari, ome-zarr-py,
ngff-zarr) looks for: the field's ``labels`` group lists the names, and each label is a
single-resolution multiscale image (axes ``z, y, x``, the field's pixel size) of integer
dtype with ``image-label`` metadata whose ``source.image`` points back at the field.
Label values are those of the measurement tables (numbered per plane, as the steps number
them), so a table row's ``plane``/``label`` picks its object's pixels.

The arrays are written by :class:`hcs_steps.plate.writer.WellWriter`, inside the well's
temporary directory, so labels appear with the well, atomically; this module checks them,
writes their metadata and reads them back.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hcs_steps.plate import ngff
from hcs_steps.plate.errors import PlateDataError

LABELS_GROUP = "labels"
# A label image lives at <image>/labels/<name>: its source image is two groups up.
SOURCE_IMAGE = "../../"


def check_field_labels(where: str, labels, shape_zyx: tuple[int, ...]) -> dict[str, np.ndarray]:
    """``labels`` (name -> ``(Z, Y, X)`` integer array) as numpy, or a :class:`PlateDataError`.

    Each label image must have its field's ``shape_zyx`` and an integer dtype; names are
    group names (no ``/``, not ``labels``' own metadata names).

    Examples
    --------
    >>> check_field_labels("well B03, field 0", {"nuclei": np.ones((1, 4, 4))}, (1, 4, 4))
    Traceback (most recent call last):
    ...
    hcs_steps.plate.errors.PlateDataError: well B03, field 0: labels 'nuclei' are float64; \
label images must have an integer dtype
    """
    checked = {}
    for name, stack in labels.items():
        ngff.relative_member(name, f"{where}: labels name")
        if "/" in name:
            raise PlateDataError(f"{where}: labels name {name!r} must be one group name, no '/'")
        stack = np.asarray(stack)
        if stack.dtype.kind not in "iu":
            raise PlateDataError(
                f"{where}: labels {name!r} are {stack.dtype}; label images must have an "
                "integer dtype"
            )
        if stack.shape != tuple(shape_zyx):
            raise PlateDataError(
                f"{where}: labels {name!r} are {stack.shape}, the field's image is "
                f"{tuple(shape_zyx)} (Z, Y, X); labels must cover the image pixel for pixel"
            )
        checked[name] = stack
    return checked


def label_metadata(labels_group, name: str, fmt, *, array_path: str, scale_zyx) -> None:
    """Write the multiscales of label ``name`` (a subgroup of ``labels_group`` holding its
    array at ``array_path``), its ``image-label`` metadata, and list it in ``labels``."""
    axes, scale = ngff.spatial_axes(scale_zyx)
    writer = ngff.ome_zarr_writer()
    writer.write_multiscales_metadata(
        labels_group[name],
        [{"path": array_path, "coordinateTransformations": [{"type": "scale", "scale": scale}]}],
        fmt=fmt,
        axes=axes,
        name=name,
    )
    writer.write_label_metadata(labels_group, name, fmt=fmt, source={"image": SOURCE_IMAGE})


def label_names(field_dir) -> list[str]:
    """The label images a field image lists (``[]`` when it has none).

    Examples
    --------
    >>> import tempfile
    >>> label_names(Path(tempfile.mkdtemp()))
    []
    """
    directory = Path(field_dir) / LABELS_GROUP
    if ngff.zarr_format_of(directory) is None:
        return []
    names = ngff.read_attributes(directory)[0].get("labels") or []
    return [ngff.relative_member(name, f"labels group {directory}") for name in names]


def read_field_labels(field_dir) -> dict[str, np.ndarray]:
    """Each label image of the field image at ``field_dir``, full resolution, by name.

    Raises :class:`PlateDataError` naming the label when one is listed but is not a valid
    label image (missing, no multiscales, not integer).
    """
    import zarr  # not on import: see hcs_steps.plate.reader

    labels = {}
    for name in label_names(field_dir):
        directory = Path(field_dir) / LABELS_GROUP / name
        where = f"labels {name!r} of {field_dir}"
        if ngff.zarr_format_of(directory) is None:
            raise PlateDataError(f"{where} are listed but missing (no group at {directory})")
        ome = ngff.read_attributes(directory)[0]
        if "image-label" not in ome:
            raise PlateDataError(f"{where} have no 'image-label' metadata")
        array_path, _, _ = ngff.multiscale_info(ome, where)
        array = zarr.open_array(directory / array_path, mode="r")
        if array.dtype.kind not in "iu":
            raise PlateDataError(f"{where} are {array.dtype}, not an integer label image")
        labels[name] = array[...]
    return labels


def read_labels(plate, well: str, field: int = 0) -> dict[str, np.ndarray]:
    """The label images of field ``field`` of ``well`` in ``plate``, by name.

    Examples
    --------
    >>> import tempfile
    >>> from hcs_steps.plate import WellWriter
    >>> plate = tempfile.mkdtemp() + "/p.zarr"
    >>> nuclei = np.zeros((1, 4, 4), np.uint32)
    >>> nuclei[0, 1:3, 1:3] = 1
    >>> with WellWriter(plate, "B03", fields=1, channel_names=["DAPI"]) as writer:
    ...     writer.write_field([nuclei.astype(np.uint16)], labels={"nuclei": nuclei})
    ...     _ = writer.publish()
    >>> read_labels(plate, "B03")["nuclei"].sum()
    np.uint64(4)
    """
    from hcs_steps.plate.reader import well_fields

    fields = well_fields(plate, well)
    if not 0 <= field < len(fields):
        raise PlateDataError(f"plate {plate}: well {well} has {len(fields)} field(s), no {field}")
    return read_field_labels(fields[field].array_dir.parent)
