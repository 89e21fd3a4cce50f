"""A chunk that is not stored is an error in every plate, whatever wrote it and however its
store spells chunk keys; ``missing_chunks="fill"`` reads it as zarr does and names it."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import zarr

from hcs_steps.plate import (
    PlateDataError,
    open_well,
    plate_well_path,
    read_well,
    write_plate_metadata,
    write_well,
)

# (zarr format, chunk key encoding, shards): the key layouts the zarr v2 and v3 specs allow.
LAYOUTS = {
    "v3-default-slash": (3, {"name": "default", "separator": "/"}, None),
    "v3-default-dot": (3, {"name": "default", "separator": "."}, None),
    "v3-v2-dot": (3, {"name": "v2", "separator": "."}, None),
    "v3-v2-slash": (3, {"name": "v2", "separator": "/"}, None),
    "v3-sharded": (3, {"name": "default", "separator": "/"}, (1, 2, 8, 16)),
    "v2-dot": (2, {"name": "v2", "separator": "."}, None),
    "v2-slash": (2, {"name": "v2", "separator": "/"}, None),
}


def foreign_plate(tmp_path: Path, layout: str) -> tuple[Path, np.ndarray]:
    """A one-well plate whose field array is rewritten with another key layout."""
    zarr_format, encoding, shards = LAYOUTS[layout]
    data = np.random.default_rng(1).integers(1, 1000, (1, 2, 2, 16, 16)).astype(np.uint16)
    plate = tmp_path / "p.zarr"
    version = "0.5" if zarr_format == 3 else "0.4"
    write_well(plate, "B03", data, channel_names=["a", "b"], ngff_version=version)
    write_plate_metadata(plate, name="p", wells=["B03"], ngff_version=version)
    array_dir = plate_well_path(plate, "B03") / "0" / "0"
    shutil.rmtree(array_dir)
    array = zarr.create_array(
        array_dir,
        shape=data.shape[1:],
        chunks=(1, 1, 8, 16),
        dtype=data.dtype,
        zarr_format=zarr_format,
        fill_value=0,
        chunk_key_encoding=encoding,
        shards=shards,
    )
    array[...] = data[0]
    return plate, data


def stored_chunks(array_dir: Path) -> list[Path]:
    return sorted(
        p
        for p in array_dir.rglob("*")
        if p.is_file() and p.name not in ("zarr.json", ".zarray", ".zattrs")
    )


@pytest.mark.parametrize("layout", LAYOUTS)
def test_a_missing_chunk_is_an_error_naming_well_field_channel_and_key(tmp_path, layout):
    plate, data = foreign_plate(tmp_path, layout)
    np.testing.assert_array_equal(read_well(plate, "B03"), data)
    array_dir = plate_well_path(plate, "B03") / "0" / "0"
    chunk = stored_chunks(array_dir)[-1]
    key = chunk.relative_to(array_dir).as_posix()
    chunk.unlink()
    message = rf"plate {plate}, well B03, field 0, channel 1: chunk {key} of .* is missing"
    with pytest.raises(PlateDataError, match=message):
        read_well(plate, "B03")


@pytest.mark.parametrize("layout", ["v3-default-slash", "v2-dot", "v3-sharded"])
def test_fill_reads_missing_chunks_as_the_fill_value_and_names_them(tmp_path, layout):
    plate, data = foreign_plate(tmp_path, layout)
    array_dir = plate_well_path(plate, "B03") / "0" / "0"
    chunk = stored_chunks(array_dir)[0]
    key = chunk.relative_to(array_dir).as_posix()
    chunk.unlink()
    well = open_well(plate, "B03", missing_chunks="fill")
    assert well.missing_chunks_of(0, 0) == [key]
    assert well.missing_chunks_of(0, 1) == []
    read = read_well(plate, "B03", missing_chunks="fill")
    np.testing.assert_array_equal(read[0, 1], data[0, 1])
    lost = read[0, 0] != data[0, 0]
    assert lost.any() and (read[0, 0][lost] == 0).all()


def test_an_unknown_missing_chunks_policy_is_refused(tmp_path):
    plate, _ = foreign_plate(tmp_path, "v3-default-slash")
    with pytest.raises(PlateDataError, match=r"missing_chunks='zeros': expected one of"):
        open_well(plate, "B03", missing_chunks="zeros")
