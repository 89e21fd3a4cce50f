"""Label images written as OME-NGFF labels of each field, read back by other tools."""

from __future__ import annotations

import numpy as np
import pytest
from ngff_validation import check_labels_with_other_tools

from hcs_steps.plate import (
    PlateDataError,
    WellWriter,
    read_labels,
    read_well,
    write_plate_metadata,
)
from hcs_steps.plate.labels import label_names, read_field_labels


def field_with_objects(seed: int, shape=(3, 24, 32)):
    """Two channels of noise with bright squares, and the squares as labels numbered per
    plane, their cells one pixel larger, and the cells' rims."""
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 50, (2, *shape)).astype(np.uint16)
    nuclei = np.zeros(shape, np.uint32)
    for plane in range(shape[0]):
        for number, (y, x) in enumerate(rng.integers(2, 18, (3, 2)) // 6 * 6 + 1, 1):
            nuclei[plane, y : y + 4, x : x + 4] = number
    image[0][nuclei > 0] += 1000
    cells = np.zeros_like(nuclei)
    for plane in range(shape[0]):
        for value in np.unique(nuclei[plane])[1:]:
            ys, xs = np.nonzero(nuclei[plane] == value)
            cells[plane, ys.min() - 1 : ys.max() + 2, xs.min() - 1 : xs.max() + 2] = value
    cytoplasm = np.where(nuclei > 0, 0, cells).astype(np.uint32)
    return image, {"nuclei": nuclei, "cells": cells, "cells_cytoplasm": cytoplasm}


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_labels_are_valid_ngff_labels_that_other_readers_find(tmp_path, version, validate_plate):
    plate = tmp_path / "p.zarr"
    fields = [field_with_objects(seed) for seed in range(2)]
    with WellWriter(
        plate, "B03", fields=2, channel_names=["dapi", "actin"], ngff_version=version
    ) as writer:
        for image, labels in fields:
            writer.write_field(image, labels=labels)
        writer.publish()
    write_plate_metadata(plate, name="p", wells=["B03"])
    validate_plate(plate, wells=1, field_count=2)
    for index, (_, labels) in enumerate(fields):
        field_dir = plate / "B" / "03" / str(index)
        check_labels_with_other_tools(field_dir, labels)
        assert label_names(field_dir) == ["nuclei", "cells", "cells_cytoplasm"]
        read = read_field_labels(field_dir)
        assert {name: array.dtype for name, array in read.items()} == dict.fromkeys(
            labels, np.dtype(np.uint32)
        )
        for name, values in labels.items():
            np.testing.assert_array_equal(read[name], values)
        by_well = read_labels(plate, "B03", index)
        assert all(np.array_equal(by_well[name], labels[name]) for name in labels)
    with pytest.raises(PlateDataError, match="well B03 has 2 field"):
        read_labels(plate, "B03", 2)
    # The labels are not channels: the well reads as its two image channels.
    np.testing.assert_array_equal(read_well(plate, "B03"), np.stack([image for image, _ in fields]))


def test_labels_carry_the_field_pixel_size_and_point_back_at_it(tmp_path):
    import json

    plate = tmp_path / "p.zarr"
    image, labels = field_with_objects(0)
    with WellWriter(
        plate, "B03", fields=1, channel_names=["dapi", "actin"], pixel_size_zyx=(2.0, 0.5, 0.5)
    ) as writer:
        writer.write_field(image, labels={"nuclei": labels["nuclei"]})
        writer.publish()
    meta = json.loads((plate / "B/03/0/labels/nuclei/zarr.json").read_text())["attributes"]
    ome = meta["ome"]
    assert ome["image-label"]["source"] == {"image": "../../"}
    dataset = ome["multiscales"][0]["datasets"][0]
    assert dataset["coordinateTransformations"][0]["scale"] == [2.0, 0.5, 0.5]
    assert [axis["name"] for axis in ome["multiscales"][0]["axes"]] == ["z", "y", "x"]


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        ({"nuclei": np.ones((3, 24, 32), np.float32)}, "labels 'nuclei' are float32"),
        ({"nuclei": np.ones((1, 24, 32), np.uint16)}, r"are \(1, 24, 32\), the field's image"),
        ({"a/b": np.ones((3, 24, 32), np.uint16)}, "must be one group name"),
        ({"..": np.ones((3, 24, 32), np.uint16)}, "expected a path inside the group"),
    ],
)
def test_bad_labels_are_refused_naming_well_field_and_labels(tmp_path, labels, message):
    image, _ = field_with_objects(0)
    with WellWriter(tmp_path / "p.zarr", "B03", fields=1, channel_names=["a", "b"]) as writer:
        with pytest.raises(PlateDataError, match=message) as error:
            writer.write_field(image, labels=labels)
    assert "well B03, field 0" in str(error.value)
    assert not (tmp_path / "p.zarr" / "B" / "03").exists()


def test_a_listed_label_that_is_missing_is_reported_by_name(tmp_path):
    import shutil

    plate = tmp_path / "p.zarr"
    image, labels = field_with_objects(0)
    with WellWriter(plate, "B03", fields=1, channel_names=["a", "b"]) as writer:
        writer.write_field(image, labels=labels)
        writer.publish()
    shutil.rmtree(plate / "B/03/0/labels/cells")
    with pytest.raises(PlateDataError, match="labels 'cells' of .* are listed but missing"):
        read_field_labels(plate / "B/03/0")
