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
