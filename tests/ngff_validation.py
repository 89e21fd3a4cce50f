"""Independent checks for every plate the tests write: two validators and ome-zarr's reader."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hcs_steps.plate import read_well


def check_plate_with_other_tools(path: Path, wells: int, field_count: int) -> None:
    """Validate ``path`` with yaozarrs and ngff-zarr and open it with ome-zarr's reader.

    Also checks that ngff-zarr reads the first listed well's first field as ``read_well`` does.
    """
    import ngff_zarr
    import yaozarrs
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Plate, Reader

    yaozarrs.validate_zarr_store(str(path))
    hcs = ngff_zarr.from_hcs_zarr(str(path), validate=True)
    assert len(hcs.metadata.wells) == wells
    first = hcs.metadata.wells[0]
    well = hcs.get_well_by_indices(first.rowIndex, first.columnIndex)
    assert len(well.images) == field_count
    image = well.get_image(0).images[0]
    assert image.dims == ("c", "z", "y", "x")
    # ngff-zarr decodes the same pixels as hcs_steps does
    ours = read_well(path, first.path.replace("/", ""), fields=[0])[0]
    np.testing.assert_array_equal(np.asarray(image.data), ours)
    root = next(iter(Reader(parse_url(str(path)))()))
    assert any(isinstance(spec, Plate) for spec in root.specs)


def check_labels_with_other_tools(field_dir: Path, expected: dict[str, np.ndarray]) -> None:
    """The field image at ``field_dir`` has exactly the label images ``expected`` (name ->
    array): each valid for yaozarrs and ngff-zarr, found by ome-zarr's reader as a Label
    node whose image is the field, and decoded by both readers into the expected values."""
    import ngff_zarr
    import yaozarrs
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Label, Multiscales, Reader

    yaozarrs.validate_zarr_store(str(field_dir))
    for name, values in expected.items():
        label_dir = field_dir / "labels" / name
        yaozarrs.validate_zarr_store(str(label_dir))
        image = ngff_zarr.from_ngff_zarr(str(label_dir), validate=True).images[0]
        assert image.dims == ("z", "y", "x")
        np.testing.assert_array_equal(np.asarray(image.data), values)
    nodes = list(Reader(parse_url(str(field_dir)))())
    found = {
        Path(str(node.zarr.path).rstrip("/")).name: node
        for node in nodes
        if any(isinstance(spec, Label) for spec in node.specs)
    }
    assert sorted(found) == sorted(expected)
    for name, node in found.items():
        assert node.data[0].dtype.kind in "iu"
        np.testing.assert_array_equal(np.asarray(node.data[0]), expected[name])
    # The reader resolves each label's source image to this field image.
    images = [
        Path(str(node.zarr.path).rstrip("/")).resolve()
        for node in nodes
        if {type(spec) for spec in node.specs} & {Multiscales, Label} == {Multiscales}
    ]
    assert images == [Path(field_dir).resolve()]
