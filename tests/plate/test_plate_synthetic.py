"""Synthetic plates: reproducible, any layout, and their known counts are right."""

from __future__ import annotations

import numpy as np
import pytest
from skimage import measure

from hcs_steps.plate import PlateDataError, open_plate, read_well
from hcs_steps.plate.synthetic import synthetic_plate, synthetic_well


def test_counts_match_a_threshold_and_label_of_the_images():
    for seed in range(3):
        data, counts = synthetic_well(
            "C07", fields=3, channels=2, z=6, y=160, x=200, objects_per_field=(2, 20), seed=seed
        )
        for field, known in zip(data, counts, strict=True):
            assert measure.label(field[0] > 400).max() == known["objects"]
            assert len(known["plane_counts"]) == 6
            assert max(known["plane_counts"]) <= known["objects"]


def test_same_seed_same_well_whatever_else_is_drawn():
    a, counts_a = synthetic_well("B02", fields=2, z=2, y=64, x=64, seed=3)
    b, counts_b = synthetic_well("B02", fields=2, z=2, y=64, x=64, seed=3)
    c, _ = synthetic_well("B03", fields=2, z=2, y=64, x=64, seed=3)
    np.testing.assert_array_equal(a, b)
    assert counts_a == counts_b and not np.array_equal(a, c)


def test_slice_of_a_384_well_plate(tmp_path, validate_plate):
    wells = ["P24", "A01", "H13"]
    counts = synthetic_plate(
        tmp_path / "s.zarr",
        wells=wells,
        fields=2,
        channels=2,
        z=3,
        y=64,
        x=80,
        objects_per_field=(1, 6),
        seed=1,
    )
    validate_plate(tmp_path / "s.zarr", wells=3, field_count=2)
    layout = open_plate(tmp_path / "s.zarr")
    assert (len(layout.rows), len(layout.columns), layout.wells) == (16, 24, ["A01", "H13", "P24"])
    assert layout.attributes["known_counts"] == counts
    data, expected_counts = synthetic_well(
        "H13", fields=2, channels=2, z=3, y=64, x=80, objects_per_field=(1, 6), seed=1
    )
    np.testing.assert_array_equal(read_well(tmp_path / "s.zarr", "H13"), data)
    assert counts["H13"] == expected_counts


def test_rows_and_columns_and_2d_fields(tmp_path):
    counts = synthetic_plate(
        tmp_path / "s.zarr",
        rows=2,
        columns=3,
        z=1,
        y=48,
        x=48,
        objects_per_field=3,
        ngff_version="0.4",
        codec="none",
    )
    assert sorted(counts) == ["A01", "A02", "A03", "B01", "B02", "B03"]
    assert all(
        c[0] == {"channel": "c0", "objects": 3, "plane_counts": [3]} for c in counts.values()
    )
    assert open_plate(tmp_path / "s.zarr").ngff_version == "0.4"


def test_too_many_objects_for_the_field():
    with pytest.raises(PlateDataError, match="cannot place 500 separate objects"):
        synthetic_well("A01", y=64, x=64, objects_per_field=500)
