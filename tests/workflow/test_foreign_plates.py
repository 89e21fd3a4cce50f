"""Plates written by other tools run through the workflow: every path from their metadata."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import zarr
from ome_zarr.format import FormatV04, FormatV05
from workflow_support import disks_plane, make_config, numpy_pipeline, run_snakemake, write_config

from hcs_steps.plate import read_well
from hcs_steps.plate.ngff import ome_zarr_writer

pytestmark = pytest.mark.slow


def ome_zarr_py_plate(path, fmt):
    """A plate as ome-zarr-py writes it: unpadded column groups (``B/3``)."""
    writer = ome_zarr_writer()
    root = zarr.open_group(path, mode="w", zarr_format=fmt.zarr_format)
    wells = {"B/3": 4, "C/11": 7}
    writer.write_plate_metadata(root, ["B", "C"], ["3", "11"], list(wells), fmt=fmt)
    for well_path, count in wells.items():
        row, column = well_path.split("/")
        group = root.require_group(row).require_group(column)
        writer.write_well_metadata(group, [{"path": "0"}], fmt=fmt)
        nuclei = np.stack([disks_plane(count, seed=z) for z in range(3)])
        membrane = np.stack([disks_plane(1, seed=10 + z) for z in range(3)])
        image = group.require_group("0")
        writer.write_image(np.stack([nuclei, membrane]), image, axes="czyx", fmt=fmt)
    return {"B03": 4, "C11": 7}


@pytest.mark.parametrize("fmt", [FormatV04(), FormatV05()], ids=["ngff-0.4", "ngff-0.5"])
def test_a_plate_with_unpadded_columns_runs_end_to_end(tmp_path, fmt):
    plate = tmp_path / "foreign.zarr"
    disks = ome_zarr_py_plate(plate, fmt)
    pipeline = numpy_pipeline()
    pipeline[2]["channel"] = ["c0"]  # no omero metadata: channels are named by index
    write_config(tmp_path, make_config(plate, pipeline))
    run_snakemake(tmp_path)
    results = tmp_path / "results" / "tiny"
    for well in disks:
        assert read_well(results / "steps" / "count.zarr", well).shape[:2] == (1, 2)
    counts = pd.read_csv(results / "tables" / "counts.csv").query("channel == 'c0'")
    found = counts.groupby("well")["count"].max().to_dict()
    assert found == disks
