"""Round trips of wells and plates through NGFF 0.5 and 0.4, atomic and concurrent writes."""

from __future__ import annotations

import json
import multiprocessing
import shutil

import numpy as np
import pytest
import zarr
from ome_zarr.format import FormatV04, FormatV05

from hcs_steps.buffers import is_aligned
from hcs_steps.plate import (
    PlateDataError,
    WellWriter,
    array_checksum,
    field_writer,
    open_plate,
    plate_well_path,
    read_well,
    write_plate_metadata,
    write_well,
)
from hcs_steps.plate.ngff import ome_zarr_writer

# ome-zarr's own writer builds the "foreign" plates; imported the way hcs_steps imports it,
# without the warning ome-zarr 0.18 gives on import.
ome_writer = ome_zarr_writer()


def well_data(seed: int, shape=(2, 2, 3, 40, 50), dtype=np.uint16) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 4000, shape).astype(dtype)


@pytest.mark.parametrize("version", ["0.5", "0.4"])
def test_plate_round_trip_is_valid_and_exact(tmp_path, validate_plate, version):
    plate = tmp_path / "plate.zarr"
    wells = {"B03": well_data(1), "H12": well_data(2)}
    for well, data in wells.items():
        write_well(
            plate,
            well,
            data,
            channel_names=["DAPI", "GFP"],
            ngff_version=version,
            pixel_size_zyx=(2.0, 0.65, 0.65),
        )
    write_plate_metadata(plate, name="screen-1", wells=list(wells), channel_names=["DAPI", "GFP"])
    validate_plate(plate, wells=2, field_count=2)

    layout = open_plate(plate)
    assert (layout.name, layout.wells, layout.field_count) == ("screen-1", ["B03", "H12"], 2)
    assert (layout.channel_names, layout.shape_zyx) == (["DAPI", "GFP"], (3, 40, 50))
    assert (layout.dtype, layout.ngff_version) == (np.uint16, version)
    assert (len(layout.rows), len(layout.columns)) == (8, 12)
    for well, data in wells.items():
        back = read_well(plate, well)
        assert is_aligned(back) and back.dtype == data.dtype
        np.testing.assert_array_equal(back, data)


def test_selection_of_fields_and_channels(tmp_path):
    data = well_data(3, shape=(3, 3, 2, 16, 16))
    write_well(tmp_path / "p.zarr", "A01", data, channel_names=["a", "b", "c"])
    np.testing.assert_array_equal(
        read_well(tmp_path / "p.zarr", "A01", fields=[2, 0], channels=["c", "a"]),
        data[[2, 0]][:, [2, 0]],
    )
    np.testing.assert_array_equal(
        read_well(tmp_path / "p.zarr", "A1", fields=1, channels=1), data[1:2, 1:2]
    )
    with pytest.raises(PlateDataError, match=r"no channel 'd'; available: \['a', 'b', 'c'\]"):
        read_well(tmp_path / "p.zarr", "A01", channels=["d"])
    with pytest.raises(PlateDataError, match="no field 3"):
        read_well(tmp_path / "p.zarr", "A01", fields=[3])


def test_provenance_is_stored_with_the_well(tmp_path):
    data = well_data(4)
    step = {
        "step": "denoise",
        "function": "hcs_steps.steps.gaussian",
        "parameters": {"sigma": 1},
        "input_checksum": "sha256:abc",
        "library_versions": {"torch": "2.13.0"},
    }
    well_dir = write_well(
        tmp_path / "p.zarr", "C07", data, channel_names=["a", "b"], provenance=step
    )
    record = json.loads((well_dir / "zarr.json").read_text())["attributes"]["hcs_steps"]
    provenance = record["provenance"]
    assert {k: provenance[k] for k in step if k != "library_versions"} == {
        k: v for k, v in step.items() if k != "library_versions"
    }
    assert provenance["library_versions"]["zarr"] == zarr.__version__
    assert provenance["library_versions"]["torch"] == "2.13.0"
    assert provenance["output_checksum"] == array_checksum(data)
    assert well_dir == plate_well_path(tmp_path / "p.zarr", "C07")


def test_1536_well_rows(tmp_path, validate_plate):
    plate = tmp_path / "p.zarr"
    write_well(plate, "AF48", well_data(5, shape=(1, 1, 1, 8, 8)), channel_names=["x"])
    write_well(plate, "AA01", well_data(6, shape=(1, 1, 1, 8, 8)), channel_names=["x"])
    write_plate_metadata(plate, name="p", wells=["AF48", "AA01"])
    validate_plate(plate, wells=2, field_count=1)
    layout = open_plate(plate)
    assert layout.wells == ["AA01", "AF48"]
    assert (len(layout.rows), len(layout.columns)) == (32, 48)


@pytest.mark.parametrize("fmt", [FormatV04(), FormatV05()], ids=["0.4", "0.5"])
def test_reads_a_plate_written_by_ome_zarr_with_other_paths(tmp_path, fmt):
    """Array paths, columns and field paths come from the metadata, not from conventions."""
    plate = tmp_path / "foreign.zarr"
    root = zarr.open_group(plate, mode="w", zarr_format=fmt.zarr_format)
    data = well_data(7, shape=(2, 2, 4, 32, 32))
    ome_writer.write_plate_metadata(root, ["A", "B"], ["1", "2", "3"], ["B/3"], fmt=fmt)
    well = root.require_group("B").require_group("3")
    ome_writer.write_well_metadata(well, [{"path": "fov-a"}, {"path": "fov-b"}], fmt=fmt)
    for name, field in zip(["fov-a", "fov-b"], data, strict=True):
        image = well.require_group(name)
        ome_writer.write_image(field, image, axes="czyx", fmt=fmt, scale_factors=())
        # Move the array to an unconventional path and point the metadata at it.
        meta_file = plate / "B/3" / name / (".zattrs" if fmt.zarr_format == 2 else "zarr.json")
        meta = json.loads(meta_file.read_text())
        ome = meta if fmt.zarr_format == 2 else meta["attributes"]["ome"]
        dataset = ome["multiscales"][0]["datasets"][0]
        shutil.move(plate / "B/3" / name / dataset["path"], plate / "B/3" / name / "full")
        dataset["path"] = "full"
        ome["omero"] = {"channels": [{"label": "DNA"}, {"label": "Actin"}]}
        meta_file.write_text(json.dumps(meta))
    layout = open_plate(plate)
    assert (layout.ngff_version, layout.wells, layout.field_count) == (fmt.version, ["B03"], 2)
    assert layout.channel_names == ["DNA", "Actin"]
    np.testing.assert_array_equal(read_well(plate, "B03"), data)


@pytest.mark.parametrize(
    ("axes", "shape"), [("cyx", (2, 16, 16)), ("tczyx", (1, 2, 3, 16, 16)), ("yx", (16, 16))]
)
def test_reads_fields_with_other_axes_as_czyx(tmp_path, axes, shape):
    """2D fields read as one plane, single-channel ones as one channel, t of size 1 dropped."""
    plate = tmp_path / "foreign.zarr"
    fmt = FormatV04()
    root = zarr.open_group(plate, mode="w", zarr_format=2)
    ome_writer.write_plate_metadata(root, ["A"], ["1"], ["A/1"], fmt=fmt)
    well = root.require_group("A").require_group("1")
    ome_writer.write_well_metadata(well, ["0"], fmt=fmt)
    data = np.arange(np.prod(shape), dtype=np.uint16).reshape(shape) + 1
    ome_writer.write_image(data, well.require_group("0"), axes=axes, fmt=fmt, scale_factors=())
    sizes = dict(zip(axes, shape, strict=True))
    expected = data.reshape(1, sizes.get("c", 1), sizes.get("z", 1), 16, 16)
    np.testing.assert_array_equal(read_well(plate, "A01"), expected)
    assert open_plate(plate).shape_zyx == (sizes.get("z", 1), 16, 16)


def _write_wells(plate, wells):
    for well in wells:
        write_well(plate, well, well_data(sum(map(ord, well))), channel_names=["a", "b"])


def test_wells_written_concurrently_by_processes(tmp_path, validate_plate):
    plate = tmp_path / "p.zarr"
    groups = [["A01", "A02", "B01"], ["A03", "B02", "C01"], ["A04", "B03", "B04"]]
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_write_wells, args=(plate, g)) for g in groups]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
        assert worker.exitcode == 0
    wells = [w for g in groups for w in g]
    write_plate_metadata(plate, name="p", wells=wells)
    validate_plate(plate, wells=len(wells), field_count=2)
    for well in wells:
        np.testing.assert_array_equal(read_well(plate, well), well_data(sum(map(ord, well))))
    assert not [p for p in plate.rglob(".*") if p.name.endswith((".tmp", ".old"))]


def test_a_well_reads_while_its_plate_metadata_is_being_replaced(tmp_path, monkeypatch):
    """Snakemake removes a result plate's zarr.json when its plate_metadata job starts, and
    a later segment may open one of the plate's wells at that moment: between seeing the
    file and reading it. The well is then found where its row and column put it."""
    from hcs_steps.plate import ngff

    plate = tmp_path / "p.zarr"
    write_well(plate, "B03", well_data(3), channel_names=["a", "b"])
    write_plate_metadata(plate, name="p", wells=["B03"])
    seen = ngff.zarr_format_of

    def seen_then_removed(directory):
        found = seen(directory)
        if directory == plate:
            (plate / "zarr.json").unlink(missing_ok=True)
        return found

    monkeypatch.setattr(ngff, "zarr_format_of", seen_then_removed)
    np.testing.assert_array_equal(read_well(plate, "B03"), well_data(3))


def _rewrite_well(plate, seed, times):
    for _ in range(times):
        write_well(plate, "C03", well_data(seed), channel_names=["a", "b"])


def test_same_well_rewritten_by_racing_processes_ends_whole(tmp_path):
    plate = tmp_path / "p.zarr"
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_rewrite_well, args=(plate, seed, 6)) for seed in (1, 2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
        assert worker.exitcode == 0
    result = read_well(plate, "C03")
    assert any(np.array_equal(result, well_data(seed)) for seed in (1, 2))
    assert sorted(p.name for p in (plate / "C").iterdir()) == ["03", "zarr.json"]


def test_failed_write_leaves_the_previous_well_untouched(tmp_path, monkeypatch):
    plate = tmp_path / "p.zarr"
    old = well_data(8)
    write_well(plate, "B02", old, channel_names=["a", "b"])
    calls = []

    def fail_on_second_field(*args):
        calls.append(1)
        if len(calls) == 3:  # field 1's first channel (2 channels a field)
            raise OSError("disk full")
        return original(*args)

    original = field_writer.write_channel_data
    monkeypatch.setattr(field_writer, "write_channel_data", fail_on_second_field)
    with pytest.raises(OSError, match="disk full"):
        write_well(plate, "B02", well_data(9), channel_names=["a", "b"])
    with pytest.raises(OSError, match="disk full"):
        calls.clear()
        write_well(plate, "B03", well_data(9), channel_names=["a", "b"])
    np.testing.assert_array_equal(read_well(plate, "B02"), old)
    assert sorted(p.name for p in (plate / "B").iterdir()) == ["02", "zarr.json"]


def test_rewriting_a_well_replaces_it(tmp_path):
    plate = tmp_path / "p.zarr"
    write_well(plate, "B02", well_data(10), channel_names=["a", "b"])
    new = well_data(11, shape=(1, 1, 2, 8, 8), dtype=np.float32)
    write_well(plate, "B02", new, channel_names=["mask"])
    np.testing.assert_array_equal(read_well(plate, "B02"), new)
    assert sorted(p.name for p in (plate / "B").iterdir()) == ["02", "zarr.json"]


@pytest.mark.parametrize("version", ["0.5", "0.4"])
@pytest.mark.parametrize("codec", ["blosc-lz4", "blosc-zstd", "zstd", "none"])
def test_every_codec_round_trips_and_other_tools_read_it(tmp_path, validate_plate, codec, version):
    data = well_data(12, dtype=np.float32)
    write_well(
        tmp_path / "p.zarr",
        "D04",
        data,
        channel_names=["a", "b"],
        codec=codec,
        ngff_version=version,
        chunk_planes=2,
    )
    write_plate_metadata(tmp_path / "p.zarr", name="p", wells=["D04"])
    validate_plate(tmp_path / "p.zarr", wells=1, field_count=2)
    np.testing.assert_array_equal(read_well(tmp_path / "p.zarr", "D04"), data)


def test_adding_a_well_of_another_version_is_refused(tmp_path):
    write_well(tmp_path / "p.zarr", "A01", well_data(13), channel_names=["a", "b"])
    with pytest.raises(PlateDataError, match="is NGFF 0.5; cannot add a well as NGFF 0.4"):
        write_well(
            tmp_path / "p.zarr", "A02", well_data(13), channel_names=["a", "b"], ngff_version="0.4"
        )


def test_a_field_written_channel_by_channel_widens_to_its_channels_dtype(tmp_path):
    """The first field's dtype is that of all its channels, though they arrive one by one."""
    plate = tmp_path / "p.zarr"
    rng = np.random.default_rng(13)
    narrow = rng.integers(0, 4000, (2, 3, 2, 8, 8)).astype(np.uint16)
    wide = rng.random((2, 2, 8, 8), dtype=np.float32)
    with WellWriter(plate, "B02", fields=2, channel_names=["a", "b", "c"]) as writer:
        field = writer.field()
        field.write_channel(narrow[0, 0])
        field.write_channel(wide[0])  # float32 after uint16: the array widens
        field.write_channel(narrow[0, 2])
        field.finish()
        writer.write_field([narrow[1, 0], wide[1], narrow[1, 2]])
        writer.publish()
    expected = narrow.astype(np.float32)
    expected[:, 1] = wide
    result = read_well(plate, "B02")
    assert result.dtype == np.float32
    np.testing.assert_array_equal(result, expected)
    provenance = json.loads((plate_well_path(plate, "B02") / "zarr.json").read_text())
    record = provenance["attributes"]["hcs_steps"]["provenance"]
    assert record["output_checksum"] == array_checksum(expected)
    assert sorted(p.name for p in (plate_well_path(plate, "B02") / "0").iterdir()) == [
        "0",
        "zarr.json",
    ]


def test_a_later_field_wider_than_the_first_is_refused(tmp_path):
    with WellWriter(tmp_path / "p.zarr", "B02", fields=2, channel_names=["a"]) as writer:
        writer.write_field([np.zeros((1, 4, 4), np.uint8)])
        field = writer.field()
        with pytest.raises(PlateDataError, match="field 1: channel 0 is .* float32, but field 0"):
            field.write_channel(np.zeros((1, 4, 4), np.float32))
        with pytest.raises(PlateDataError, match="field 1: the field before is unfinished"):
            writer.field()
