"""Plates written by other tools run through the workflow: every path from their metadata.

ome-zarr-py, yaozarrs and ngff-zarr each write their own layout: unpadded column groups
(``B/3``), ``scale0/image`` array paths (ngff-zarr), ``/``-separated v2 chunk keys, sharded
v3 arrays (yaozarrs with ``shards``)."""

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


FOREIGN_WELLS = {("B", "3"): 4, ("C", "11"): 7}


def foreign_field(count: int, seed: int) -> np.ndarray:
    """A ``(c, z, y, x)`` field: ``count`` nuclei, one membrane disk."""
    nuclei = np.stack([disks_plane(count, seed=seed + z) for z in range(3)])
    membrane = np.stack([disks_plane(1, seed=100 + seed + z) for z in range(3)])
    return np.stack([nuclei, membrane])


def yaozarrs_plate(path, shards=None):
    """A plate as ``yaozarrs.write.v05.write_plate`` writes it (NGFF 0.5, zarr v3)."""
    from yaozarrs import v05
    from yaozarrs.write.v05 import write_plate

    def image():
        axes = [v05.ChannelAxis(name="c")] + [v05.SpaceAxis(name=a) for a in "zyx"]
        scale = v05.ScaleTransformation(scale=[1, 1, 0.5, 0.5])
        dataset = v05.Dataset(path="0", coordinateTransformations=[scale])
        return v05.Image(multiscales=[v05.Multiscale(axes=axes, datasets=[dataset])])

    images = {
        (row, column, "0"): (image(), [foreign_field(count, 10 * index)])
        for index, ((row, column), count) in enumerate(FOREIGN_WELLS.items())
    }
    write_plate(path, images, writer="zarr", chunks=(1, 1, 32, 32), shards=shards)
    return {r + column.zfill(2): n for (r, column), n in FOREIGN_WELLS.items()}


def ngff_zarr_plate(path, version):
    """A plate as ngff-zarr writes it: ``to_hcs_zarr``, then ``write_hcs_well_image``."""
    import ngff_zarr as nz

    rows, columns = sorted({r for r, _ in FOREIGN_WELLS}), ["3", "11"]
    wells = [
        nz.PlateWell(path=f"{r}/{c}", rowIndex=rows.index(r), columnIndex=columns.index(c))
        for r, c in FOREIGN_WELLS
    ]
    plate = nz.Plate(
        rows=[nz.PlateRow(name=r) for r in rows],
        columns=[nz.PlateColumn(name=c) for c in columns],
        wells=wells,
        name="ngff-zarr plate",
        field_count=1,
        version=version,
    )
    nz.to_hcs_zarr(nz.HCSPlate(path, plate), path)
    for index, ((row, column), count) in enumerate(FOREIGN_WELLS.items()):
        image = nz.to_ngff_image(foreign_field(count, 10 * index), dims=["c", "z", "y", "x"])
        multiscales = nz.to_multiscales(image, scale_factors=[], chunks=32)
        nz.write_hcs_well_image(path, multiscales, plate, row, column, 0, version=version)
    return {r + column.zfill(2): n for (r, column), n in FOREIGN_WELLS.items()}


FOREIGN_WRITERS = {
    "ome-zarr-py-0.4": lambda path: ome_zarr_py_plate(path, FormatV04()),
    "ome-zarr-py-0.5": lambda path: ome_zarr_py_plate(path, FormatV05()),
    "yaozarrs": yaozarrs_plate,
    "yaozarrs-sharded": lambda path: yaozarrs_plate(path, shards=(1, 3, 64, 64)),
    "ngff-zarr-0.4": lambda path: ngff_zarr_plate(path, "0.4"),
    "ngff-zarr-0.5": lambda path: ngff_zarr_plate(path, "0.5"),
}


@pytest.mark.parametrize("writer", FOREIGN_WRITERS)
def test_a_foreign_plate_runs_end_to_end(tmp_path, writer):
    plate = tmp_path / "foreign.zarr"
    disks = FOREIGN_WRITERS[writer](plate)
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
