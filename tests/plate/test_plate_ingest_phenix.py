"""Opera Phenix / Operetta exports ingested into valid plates, and their bad inputs."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import tifffile
from plate_support import phenix_folder, phenix_name, plane

from hcs_steps.plate import PlateDataError, ingest_plate, open_source, read_well


def expected(well, fields, channels, planes):
    return np.stack(
        [
            np.stack([np.stack([plane(well, f, c, z) for z in planes]) for c in channels])
            for f in fields
        ]
    )


def test_index_idx_xml_export(tmp_path, validate_plate):
    # Harmony lists field 2 (the centre) first; that order is kept.
    root = phenix_folder(
        tmp_path / "export", [(2, 3), (16, 24)], fields=[2, 1, 3], planes=[1, 2], channels=[1, 2]
    )
    source = open_source(root, "phenix")
    assert (source.name, source.wells, source.field_count) == ("P-0001", ["B03", "P24"], 3)
    assert source.channel_names == ["HOECHST 33342", "Alexa 488"]
    assert source.pixel_size_zyx == pytest.approx((2.0, 0.65, 0.65))
    layout = ingest_plate(source, tmp_path / "out.zarr")
    validate_plate(tmp_path / "out.zarr", wells=2, field_count=3)
    assert (len(layout.rows), len(layout.columns)) == (16, 24)
    np.testing.assert_array_equal(
        read_well(tmp_path / "out.zarr", "P24"), expected("P24", [2, 1, 3], [1, 2], [1, 2])
    )
    field = json.loads((tmp_path / "out.zarr/B/03/0/zarr.json").read_text())
    dataset = field["attributes"]["ome"]["multiscales"][0]["datasets"][0]
    assert dataset["coordinateTransformations"][0]["scale"] == pytest.approx([1, 2, 0.65, 0.65])


def test_older_index_xml_without_namespace_in_export_root(tmp_path):
    root = phenix_folder(
        tmp_path / "export",
        [(1, 1)],
        fields=[1],
        planes=[1],
        channels=[1],
        index_name="Index.xml",
        namespace=False,
    )
    for path in (root / "Images").iterdir():
        shutil.move(path, root / path.name)
    source = open_source(root, "phenix")
    assert (source.wells, source.channel_names[0]) == (["A01"], "HOECHST 33342")
    np.testing.assert_array_equal(source.read_well("A01"), expected("A01", [1], [1], [1]))


def test_file_names_alone_without_an_index(tmp_path):
    root = phenix_folder(
        tmp_path / "export",
        [(3, 4)],
        fields=[1, 2],
        planes=[1, 2, 3],
        channels=[1, 2],
        index_name=None,
    )
    source = open_source(root, "phenix")
    assert (source.wells, source.channel_names, source.pixel_size_zyx) == (
        ["C04"],
        ["ch1", "ch2"],
        None,
    )
    np.testing.assert_array_equal(
        source.read_well("C04"), expected("C04", [1, 2], [1, 2], [1, 2, 3])
    )


def test_image_listed_in_the_index_but_missing(tmp_path):
    gone = phenix_name(2, 2, 1, 2, 1)
    root = phenix_folder(
        tmp_path / "export", [(2, 2)], fields=[1], planes=[1, 2], channels=[1, 2], skip={gone}
    )
    with pytest.raises(
        PlateDataError, match="plate P-0001: no image for well B02, field 1, channel 1, plane 2"
    ):
        ingest_plate(open_source(root, "phenix"), tmp_path / "out.zarr")
    filled = open_source(root, "phenix", missing="zeros").read_well("B02")
    assert not filled[0, 0, 1].any() and filled[0, 1, 1].any()


def test_inconsistent_shapes_name_both_files(tmp_path):
    root = phenix_folder(tmp_path / "export", [(2, 2)], fields=[1, 2], planes=[1], channels=[1])
    odd = root / "Images" / phenix_name(2, 2, 2, 1, 1)
    tifffile.imwrite(odd, np.zeros((5, 5), np.uint16))
    with pytest.raises(PlateDataError, match=rf"{odd.name} is \(5, 5\) uint16 but .*f01p01"):
        open_source(root, "phenix").read_well("B02")


def test_broken_index_and_empty_export(tmp_path):
    root = phenix_folder(tmp_path / "export", [(1, 1)], fields=[1], planes=[1], channels=[1])
    (root / "Images" / "Index.idx.xml").write_text("<EvaluationInputData><Images>")
    with pytest.raises(PlateDataError, match="cannot parse Phenix index"):
        open_source(root, "phenix")
    (tmp_path / "empty").mkdir()
    with pytest.raises(PlateDataError, match="no Phenix images"):
        open_source(tmp_path / "empty", "phenix")
