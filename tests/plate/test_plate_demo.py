"""The demo plate: built offline from installed packages, valid, with known counts."""

from __future__ import annotations

import json
import time

import numpy as np

from hcs_steps import samples
from hcs_steps.buffers import is_aligned
from hcs_steps.plate import build_demo_plate, ingest_well, open_plate, open_source, read_well
from hcs_steps.plate.demo import DEMO_WELLS, known_counts


def test_demo_plate_builds_in_seconds_and_is_valid(tmp_path, validate_plate):
    started = time.perf_counter()
    layout = build_demo_plate(tmp_path / "demo.zarr")
    assert time.perf_counter() - started < 30
    validate_plate(tmp_path / "demo.zarr", wells=6, field_count=2)
    assert layout.wells == list(DEMO_WELLS)
    assert (layout.field_count, layout.channel_names) == (2, ["nuclei", "nuclear", "cells"])
    assert (layout.shape_zyx, layout.dtype) == ((8, 256, 256), np.uint16)
    assert layout.attributes["known_counts"] == known_counts()
    assert open_plate(tmp_path / "demo.zarr") == layout


def test_demo_images_are_the_real_sample_images(tmp_path):
    build_demo_plate(tmp_path / "demo.zarr")
    b02 = read_well(tmp_path / "demo.zarr", "B02")
    assert is_aligned(b02)
    # Field 0 of B02 is planes 12..19 of the napari nuclei stack, not rotated.
    np.testing.assert_array_equal(b02[0, 0], samples.nuclei_stack()[12:20])
    # Its "nuclear" channel is a mahotas tile, sharp in the middle plane.
    middle = b02[0, 1, 3:5].astype(np.int64)
    tile = samples.nuclear_image()[:256, :256].astype(np.int64) * 257
    assert np.abs(middle - tile).max() <= 257 * 40
    assert b02[0, 1, 0].std() < b02[0, 1, 3].std()
    # Its "cells" channel is the top left quarter of the time-lapse's first frame.
    middle = b02[0, 2, 3:5].astype(np.int64)
    quarter = samples.cells_timelapse()[0, :256, :256].astype(np.int64) * 257
    assert np.abs(middle - quarter).max() <= 257 * 40
    assert np.corrcoef(middle[0].ravel(), quarter.ravel())[0, 1] > 0.99
    # B02 field 1 is another frame and quarter, C04 field 1 the time-lapse's end.
    assert not np.array_equal(b02[1, 2], b02[0, 2])
    c04 = read_well(tmp_path / "demo.zarr", "C04")
    frames = samples.cells_timelapse()
    corner = frames[27, 255:, 255:].astype(np.int64) * 257
    assert np.corrcoef(c04[1, 2, 3].ravel(), corner.ravel())[0, 1] > 0.99


def test_known_counts_come_from_the_label_image():
    counts = known_counts()
    labels = samples.nuclei_labels()
    # C02 field 0 is a slab through the middle of the stack: all 20 nuclei are in it.
    assert counts["C02"][0]["objects"] == 20 == len(np.unique(labels)) - 1
    assert counts["B02"][0]["plane_counts"][-1] == len(np.unique(labels[19])) - 1
    objects = [f["objects"] for well in DEMO_WELLS for f in counts[well]]
    assert min(objects) < 5 and max(objects) == 20


def test_demo_source_ingests_one_well_with_provenance(tmp_path):
    source = open_source(None, "demo")
    well_dir = ingest_well(source, "C04", tmp_path / "p.zarr")
    np.testing.assert_array_equal(read_well(tmp_path / "p.zarr", "C04"), source.read_well("C04"))
    assert well_dir.name == "04"
    provenance = json.loads((well_dir / "zarr.json").read_text())["attributes"]["hcs_steps"]
    files = provenance["provenance"]["source_files"]
    assert any(f.endswith("nuclei.tif") for f in files)
    assert any(f.endswith("nuclear.png") for f in files)
    assert any(f.endswith("2D_timelapse.tif") for f in files)
