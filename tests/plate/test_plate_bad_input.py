"""Bad plate data is refused with an error that names it, and nothing is half-written."""

from __future__ import annotations

import json
import pickle
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaozarrs

from hcs_steps.plate import (
    PlateDataError,
    open_plate,
    parse_well,
    plate_well_path,
    read_well,
    write_plate_metadata,
    write_well,
)


def small(seed=0, shape=(2, 1, 2, 16, 16)):
    return np.random.default_rng(seed).integers(1, 1000, shape).astype(np.uint16)


@pytest.fixture
def plate(tmp_path) -> Path:
    path = tmp_path / "plate.zarr"
    for well in ("B02", "B03"):
        # One plane per chunk, so the error has to name the right one of several chunks.
        write_well(path, well, small(), channel_names=["DAPI"], chunk_planes=1)
    write_plate_metadata(path, name="p", wells=["B02", "B03"])
    return path


def last_chunk(plate: Path, well: str) -> Path:
    array_dir = plate_well_path(plate, well) / "1" / "0"
    return max(p for p in array_dir.rglob("*") if p.is_file() and p.name != "zarr.json")


@pytest.mark.parametrize(
    "name", ["../x", "/etc/passwd", "B03/../../x", "b03", "A00", "AG01", "A49", "", "B 03", 7]
)
def test_well_names_that_are_not_plate_coordinates(tmp_path, name):
    with pytest.raises(PlateDataError, match="is not a well name"):
        parse_well(name)
    with pytest.raises(PlateDataError, match="is not a well name"):
        write_well(tmp_path / "p.zarr", name, small(), channel_names=["a"])
    assert not (tmp_path / "x").exists() and not (tmp_path / "p.zarr").exists()


@pytest.mark.parametrize("damage", ["truncate", "zero", "flip"])
def test_damaged_chunk_names_well_and_chunk(plate, damage):
    chunk = last_chunk(plate, "B03")
    data = chunk.read_bytes()
    damaged = {
        "truncate": data[: len(data) // 2],
        "zero": bytes(len(data)),
        "flip": data[:8] + bytes(b ^ 0x55 for b in data[8:16]) + data[16:],
    }[damage]
    chunk.write_bytes(damaged)
    key = chunk.relative_to(chunk.parents[4]).as_posix()  # c/0/1/0/0
    message = rf"well B03, field 1, channel 0: chunk {key} .* corrupt"
    with pytest.raises(PlateDataError, match=message):
        read_well(plate, "B03")
    np.testing.assert_array_equal(read_well(plate, "B02"), small())


def test_missing_chunk_of_a_written_well(plate):
    last_chunk(plate, "B02").unlink()
    message = r"well B02, field 1, channel 0: chunk c/0/1/0/0 .* missing"
    with pytest.raises(PlateDataError, match=message):
        read_well(plate, "B02")


def _object_array(directory: Path, marker: Path) -> None:
    """A zarr v2 array of Python objects whose chunk, if unpickled, creates ``marker``."""

    class Payload:
        def __reduce__(self):
            return (Path.touch, (marker,))

    directory.mkdir(parents=True)
    (directory / ".zarray").write_text(
        json.dumps(
            {
                "zarr_format": 2,
                "shape": [1, 1, 4, 4],
                "chunks": [1, 1, 4, 4],
                "dtype": "|O",
                "compressor": None,
                "filters": [{"id": "pickle", "protocol": 5}],
                "fill_value": 0,
                "order": "C",
                "dimension_separator": "/",
            }
        )
    )
    (directory / "0/0/0").mkdir(parents=True)
    (directory / "0/0/0/0").write_bytes(pickle.dumps(np.array([Payload()], dtype=object)))


def _replace_array(plate: Path, well: str, make) -> None:
    """Put a v2-format array built by ``make(dir)`` in place of field 0, pointing metadata at it."""
    field = plate_well_path(plate, well) / "0"
    attrs = json.loads((field / "zarr.json").read_text())
    attrs["attributes"]["ome"]["multiscales"][0]["datasets"][0]["path"] = "evil"
    (field / "zarr.json").write_text(json.dumps(attrs))
    make(field / "evil")


def test_object_dtype_with_pickle_codec_is_refused_without_unpickling(plate, tmp_path):
    marker = tmp_path / "code-ran"
    _replace_array(plate, "B02", lambda d: _object_array(d, marker))
    with pytest.raises(PlateDataError, match=r"dtype '\|O'.*pickled Python objects"):
        read_well(plate, "B02")
    with pytest.raises(PlateDataError, match="dtype"):
        open_plate(plate)
    assert not marker.exists()


def test_numeric_array_with_a_pickle_codec_is_refused(plate):
    field = plate_well_path(plate, "B03") / "0" / "0"
    meta = json.loads((field / "zarr.json").read_text())
    meta["codecs"].insert(0, {"name": "numcodecs.pickle", "configuration": {"protocol": 5}})
    (field / "zarr.json").write_text(json.dumps(meta))
    with pytest.raises(PlateDataError, match=r"codec\(s\) \['numcodecs.pickle'\]"):
        read_well(plate, "B03")


def test_data_that_is_not_fields_channels_zyx(tmp_path):
    for shape in [(16, 16), (1, 16, 16), (1, 1, 16, 16), (1, 1, 1, 1, 16, 16)]:
        with pytest.raises(PlateDataError, match=r"expected 5D \(fields, channels, Z, Y, X\)"):
            write_well(tmp_path / "p.zarr", "A01", np.zeros(shape, np.uint8), channel_names=["a"])
    with pytest.raises(PlateDataError, match="dtype <U1 is not numeric"):
        write_well(tmp_path / "p.zarr", "A01", np.full((1, 1, 1, 2, 2), "x"), channel_names=["a"])
    with pytest.raises(PlateDataError, match=r"2 channel names \['a', 'b'\] for 1 channels"):
        write_well(tmp_path / "p.zarr", "A01", small(), channel_names=["a", "b"])
    assert not (tmp_path / "p.zarr" / "A" / "01").exists()


def test_image_with_a_time_axis_longer_than_one_is_refused(tmp_path):
    """A (t, z, y, x) time series is not a field's (c, z, y, x) stack: refused, not guessed."""
    field = (
        write_well(
            tmp_path / "p.zarr", "B02", small(shape=(1, 2, 2, 16, 16)), channel_names=["a", "b"]
        )
        / "0"
    )
    meta = json.loads((field / "zarr.json").read_text())
    meta["attributes"]["ome"]["multiscales"][0]["axes"][0] = {"name": "t", "type": "time"}
    (field / "zarr.json").write_text(json.dumps(meta))
    with pytest.raises(PlateDataError, match=r"axes \['t', 'z', 'y', 'x'\] with shape \(2, 2"):
        read_well(tmp_path / "p.zarr", "B02")


@pytest.mark.parametrize("index", [8, -1, "0", None])
def test_plate_metadata_with_a_well_index_outside_its_rows(plate, index):
    meta_file = plate / "zarr.json"
    meta = json.loads(meta_file.read_text())
    meta["attributes"]["ome"]["plate"]["wells"][1]["rowIndex"] = index
    meta_file.write_text(json.dumps(meta))
    message = rf"plate {plate}: well 'B/03' has rowIndex {index!r} .* the plate has \d+ rows"
    with pytest.raises(PlateDataError, match=message):
        open_plate(plate)


def test_plate_metadata_with_a_well_index_that_contradicts_its_path(plate):
    meta_file = plate / "zarr.json"
    meta = json.loads(meta_file.read_text())
    meta["attributes"]["ome"]["plate"]["wells"][1]["rowIndex"] = 7  # row H, path B/03
    meta_file.write_text(json.dumps(meta))
    with pytest.raises(PlateDataError, match="well 'B/03' .* its path must be 'H/03'"):
        open_plate(plate)


def test_plate_metadata_listing_a_missing_well(plate):
    shutil.rmtree(plate / "B" / "03")
    with pytest.raises(ValueError, match="'B/03' not found"):
        yaozarrs.validate_zarr_store(str(plate))  # the validator the tests rely on sees it too
    with pytest.raises(PlateDataError, match="well B03 is missing"):
        open_plate(plate)
    with pytest.raises(PlateDataError, match=r"cannot list wells \['B03'\]: they were not written"):
        write_plate_metadata(plate, name="p", wells=["B02", "B03"])


def test_well_metadata_listing_a_missing_field(plate):
    shutil.rmtree(plate / "B" / "02" / "1")
    with pytest.raises(PlateDataError, match=r"well B02, field 1 \(1\) is listed .* but missing"):
        open_plate(plate)
    with pytest.raises(PlateDataError, match="field 1"):
        read_well(plate, "B02")


def test_not_a_plate(tmp_path):
    with pytest.raises(PlateDataError, match="no zarr plate"):
        open_plate(tmp_path)
    write_well(tmp_path / "p.zarr", "A01", small(), channel_names=["a"])
    with pytest.raises(PlateDataError, match="has no NGFF plate metadata"):
        open_plate(tmp_path / "p.zarr")
    with pytest.raises(PlateDataError, match="well A02 is missing"):
        read_well(tmp_path / "p.zarr", "A02")


@pytest.mark.parametrize("level", ["well", "field", "dataset"])
@pytest.mark.parametrize("path", ["../../outside", "/etc", "B/./03", ""])
def test_metadata_paths_that_leave_the_plate(plate, level, path):
    if level == "well":
        meta_file = plate / "zarr.json"
        meta = json.loads(meta_file.read_text())
        meta["attributes"]["ome"]["plate"]["wells"][0]["path"] = path
    elif level == "field":
        meta_file = plate_well_path(plate, "B02") / "zarr.json"
        meta = json.loads(meta_file.read_text())
        meta["attributes"]["ome"]["well"]["images"][0]["path"] = path
    else:
        meta_file = plate_well_path(plate, "B02") / "0" / "zarr.json"
        meta = json.loads(meta_file.read_text())
        meta["attributes"]["ome"]["multiscales"][0]["datasets"][0]["path"] = path
    meta_file.write_text(json.dumps(meta))
    with pytest.raises(PlateDataError, match=rf"lists path '{re.escape(path)}': expected a path"):
        read_well(plate, "B02")
