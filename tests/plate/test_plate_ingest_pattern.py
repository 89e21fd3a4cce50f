"""Folders named by a user's pattern, and other ingest sources (OME-Zarr, unknown formats)."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
from plate_support import plane

from hcs_steps.plate import (
    PlateDataError,
    ingest_plate,
    open_source,
    read_well,
    write_plate_metadata,
    write_well,
)

NESTED = (
    r"(?P<well>[A-P]\d{2})/(?P=well)_fld(?P<field>\d+)_(?P<channel>[A-Za-z0-9]+)_z(?P<z>\d+)\.tif"
)


def nested_folder(root, wells, fields, channels, planes):
    for well in wells:
        (root / well).mkdir(parents=True)
        for f in fields:
            for c, channel in enumerate(channels):
                for z in planes:
                    tifffile.imwrite(
                        root / well / f"{well}_fld{f}_{channel}_z{z}.tif", plane(well, f, c, z)
                    )
    (root / "notes.txt").write_text("not an image")
    tifffile.imwrite(root / "overview.tif", np.zeros((3, 3), np.uint8))


def test_named_groups_well_field_channel_z(tmp_path, validate_plate):
    nested_folder(tmp_path / "scope", ["B02", "D11"], [1, 2, 10], ["DNA", "Actin"], [0, 1])
    source = open_source(tmp_path / "scope", "pattern", pattern=NESTED)
    assert (source.wells, source.field_count) == (["B02", "D11"], 3)
    assert (source.channel_names, source.shape_zyx) == (["Actin", "DNA"], (2, 12, 20))
    ingest_plate(source, tmp_path / "out.zarr")
    validate_plate(tmp_path / "out.zarr", wells=2, field_count=3)
    data = read_well(tmp_path / "out.zarr", "D11")
    np.testing.assert_array_equal(data[2, 1, 1], plane("D11", 10, 0, 1))  # field 10, DNA, z1
    np.testing.assert_array_equal(data[0, 0, 0], plane("D11", 1, 1, 0))  # field 1, Actin, z0


def test_numeric_row_and_column_groups(tmp_path):
    root = tmp_path / "scope"
    root.mkdir()
    for row, column in [(1, 1), (27, 48)]:
        tifffile.imwrite(root / f"row{row}_col{column}.tiff", plane(str(row), 1, 1, 1))
    source = open_source(root, "pattern", pattern=r"row(?P<row>\d+)_col(?P<column>\d+)\.tiff")
    assert source.wells == ["A01", "AA48"]
    assert source.read_well("AA48").shape == (1, 1, 1, 12, 20)


def test_patterns_that_cannot_work(tmp_path):
    nested_folder(tmp_path / "scope", ["B02"], [1], ["DNA"], [0])
    with pytest.raises(PlateDataError, match="must have a named group 'well'"):
        open_source(tmp_path / "scope", "pattern", pattern=r"(?P<plate>.+)\.tif")
    with pytest.raises(PlateDataError, match="is not a regular expression"):
        open_source(tmp_path / "scope", "pattern", pattern=r"(?P<well>[A-P")
    with pytest.raises(PlateDataError, match=r"no TIFF under .* matches .* files look like"):
        open_source(tmp_path / "scope", "pattern", pattern=r"(?P<well>[A-P]\d\d)\.png")
    with pytest.raises(PlateDataError, match="needs pattern="):
        open_source(tmp_path / "scope", "pattern")
    tifffile.imwrite(tmp_path / "scope" / "Q99_x.tif", plane("Q99", 1, 1, 1))
    with pytest.raises(PlateDataError, match="Q99_x.tif: 'Q99' is not a well name"):
        open_source(tmp_path / "scope", "pattern", pattern=r"(?P<well>[A-Z]\d+)_x\.tif")


def test_two_files_for_one_plane(tmp_path):
    nested_folder(tmp_path / "scope", ["B02"], [1], ["DNA"], [0])
    tifffile.imwrite(tmp_path / "scope" / "B02" / "B02_fld01_DNA_z0.tif", plane("B02", 1, 0, 0))
    with pytest.raises(PlateDataError, match="B02_fld01_DNA_z0.tif and .*B02_fld1_DNA_z0.tif both"):
        open_source(tmp_path / "scope", "pattern", pattern=NESTED)


def test_ome_zarr_plate_as_a_source_converts_04_to_05(tmp_path, validate_plate):
    data = np.random.default_rng(0).integers(0, 9, (2, 1, 2, 8, 8)).astype(np.uint8)
    write_well(tmp_path / "old.zarr", "C03", data, channel_names=["x"], ngff_version="0.4")
    write_plate_metadata(tmp_path / "old.zarr", name="old", wells=["C03"])
    layout = ingest_plate(open_source(tmp_path / "old.zarr", "ome-zarr"), tmp_path / "new.zarr")
    validate_plate(tmp_path / "new.zarr", wells=1, field_count=2)
    assert (layout.ngff_version, layout.name) == ("0.5", "old")
    np.testing.assert_array_equal(read_well(tmp_path / "new.zarr", "C03"), data)


def test_unknown_format_and_unknown_wells(tmp_path):
    with pytest.raises(PlateDataError, match="source format 'czi' is not one of"):
        open_source(tmp_path, "czi")
    with pytest.raises(PlateDataError, match=r"plate demo has no wells \['A01'\]"):
        ingest_plate(open_source(None, "demo"), tmp_path / "p.zarr", wells=["A01"])
