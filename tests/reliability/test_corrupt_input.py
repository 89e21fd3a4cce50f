"""Corrupt and foreign input inside real Snakemake runs: the run fails naming what is bad,
or, with ``on_bad_well: skip``, completes the other wells and says which well it skipped
and why; a rerun after the data is fixed computes the skipped well.

Plates are the tiny 64 x 64 plates of the workflow tests (wells B02, B03, C02 with 2, 5
and 8 disks); the faults are made in well B03.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile
from workflow_support import (
    build_tiny_plate,
    disks_plane,
    job_counts,
    make_config,
    run_snakemake,
    write_config,
)

from hcs_steps.plate import open_plate, plate_well_path
from hcs_steps.plate.skipped import skipped_reason

pytestmark = pytest.mark.slow


def chunks_of(plate: Path, well: str) -> list[Path]:
    """The chunk files of the well's field 0, in key order."""
    array_dir = plate_well_path(plate, well) / "0" / "0"
    return sorted(p for p in array_dir.rglob("*") if p.is_file() and p.name != "zarr.json")


def chunk_key(plate: Path, well: str, chunk: Path) -> str:
    return chunk.relative_to(plate_well_path(plate, well) / "0" / "0").as_posix()


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def flip(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def unlist_field(plate: Path, well: str) -> None:
    """Make the well's metadata list a field 1 that is not there."""
    meta_file = plate_well_path(plate, well) / "zarr.json"
    meta = json.loads(meta_file.read_text())
    meta["attributes"]["ome"]["well"]["images"].append({"path": "1", "acquisition": 0})
    meta_file.write_text(json.dumps(meta))


# fault -> (how it is made in well B03 of the plate, what the error must say: a regular
# expression, {plate} standing for the plate's path)
ZARR_FAULTS = {
    "truncated chunk": (
        lambda p: truncate(chunks_of(p, "B03")[-1]),
        r"plate {plate}, well B03, field 0, channel 1: chunk c/1/0/0/0 .* corrupt or truncated",
    ),
    "flipped bytes": (
        lambda p: flip(chunks_of(p, "B03")[-1]),
        r"plate {plate}, well B03, field 0, channel 1: chunk c/1/0/0/0 .* corrupt or truncated",
    ),
    "missing chunk": (
        lambda p: chunks_of(p, "B03")[-1].unlink(),
        r"plate {plate}, well B03, field 0, channel 1: chunk c/1/0/0/0 of .* is missing",
    ),
    "listed well not there": (
        lambda p: shutil.rmtree(plate_well_path(p, "B03")),
        # Snakemake refuses it before any job, naming the well's directory
        r"Missing input files for rule segment_\w+:(.|\n)*affected files:\s+{plate}/B/03\n",
    ),
    "listed field not there": (
        lambda p: unlist_field(p, "B03"),
        r"plate {plate}, well B03, field 1 \(1\) is listed in the well metadata but missing",
    ),
}


def tiny_run(tmp_path: Path, **plate_options) -> tuple[Path, dict[str, int]]:
    plate = tmp_path / "plate.zarr"
    disks = build_tiny_plate(plate)
    config = make_config(plate)
    config["plates"]["tiny"].update(plate_options)
    write_config(tmp_path, config)
    return plate, disks


def nuclei_counts(workdir: Path, channel: str = "nuclei") -> dict[str, int]:
    counts = pd.read_csv(workdir / "results/tiny/tables/counts.csv")
    return counts[counts["channel"] == channel].groupby("well")["count"].max().to_dict()


def input_records(workdir: Path) -> pd.DataFrame:
    field_qc = pd.read_csv(workdir / "results/tiny/tables/field_qc.csv")
    return field_qc[field_qc["step"] == "(input)"]


@pytest.mark.parametrize("fault", ZARR_FAULTS)
def test_a_bad_well_fails_the_run_naming_plate_well_field_and_chunk(tmp_path, fault):
    plate, _ = tiny_run(tmp_path)
    make, message = ZARR_FAULTS[fault]
    make(plate)
    result = run_snakemake(tmp_path, check=False)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    log = "".join(p.read_text() for p in (tmp_path / "logs").rglob("*.log"))
    message = message.replace("{plate}", re.escape(str(plate)))
    assert any(re.search(message, text) for text in (output, log)), output[-4000:]
    assert not (tmp_path / "results/tiny/tables/counts.csv").exists()


@pytest.mark.parametrize("fault", ["missing chunk", "listed well not there"])
def test_a_skipped_well_is_recorded_and_computed_once_its_data_is_fixed(tmp_path, fault):
    plate, disks = tiny_run(tmp_path, on_bad_well="skip")
    backup = tmp_path / "backup"
    shutil.copytree(plate_well_path(plate, "B03"), backup)
    ZARR_FAULTS[fault][0](plate)
    run_snakemake(tmp_path)

    assert nuclei_counts(tmp_path) == {w: n for w, n in disks.items() if w != "B03"}
    records = input_records(tmp_path)
    assert records["well"].tolist() == ["B03"] and records["flagged"].all()
    assert "well skipped:" in records["flag_reason"].iloc[0]
    reason = "chunk c/1/0/0/0" if fault == "missing chunk" else "well B03 is missing (no group"
    assert reason in records["flag_reason"].iloc[0]
    summary = pd.read_csv(tmp_path / "results/tiny/tables/summary.csv")
    assert "B03" not in set(summary["well"])  # no rows: never a count of zero
    steps = tmp_path / "results/tiny/steps"
    for step_plate in steps.glob("*.zarr"):
        assert open_plate(step_plate).wells == ["B02", "C02"]
        assert skipped_reason(plate_well_path(step_plate, "B03")) is not None
    job_log = (tmp_path / "logs/tiny").rglob("*B03.log")
    assert any("skipped (on_bad_well: skip)" in p.read_text() for p in job_log)

    # The data is fixed: copied back, newer than the skip.
    shutil.rmtree(plate_well_path(plate, "B03"), ignore_errors=True)
    shutil.copytree(backup, plate_well_path(plate, "B03"))
    run_snakemake(tmp_path)
    assert nuclei_counts(tmp_path) == disks
    assert input_records(tmp_path).empty
    for step_plate in steps.glob("*.zarr"):
        assert open_plate(step_plate).wells == ["B02", "B03", "C02"]
    assert job_counts(run_snakemake(tmp_path)) == {}  # nothing left to redo


def test_missing_chunks_fill_reads_fill_values_with_a_warning_and_a_flag(tmp_path):
    plate, disks = tiny_run(tmp_path, missing_chunks="fill")
    chunk = chunks_of(plate, "B03")[0]  # nuclei: the well then counts 0
    key = chunk_key(plate, "B03", chunk)
    chunk.unlink()
    run_snakemake(tmp_path)
    assert nuclei_counts(tmp_path) == {**disks, "B03": 0}
    records = input_records(tmp_path)
    assert records[["well", "field", "channel"]].values.tolist() == [["B03", 0, "nuclei"]]
    assert f"1 missing chunk(s) read as the fill value: {key}" in records["flag_reason"].iloc[0]
    job_logs = list((tmp_path / "logs/tiny").rglob("*B03.log"))
    assert any(f"read as the fill value: {key}" in p.read_text() for p in job_logs)


def test_bad_wells_outside_the_selected_wells_do_not_stop_the_run(tmp_path):
    plate = tmp_path / "plate.zarr"
    disks = build_tiny_plate(plate, wells=("B02", "B03", "C02", "C03"))
    # B02, the plate's first well, is the one planning used to open for the channel names.
    array_meta = plate_well_path(plate, "B02") / "0" / "0" / "zarr.json"
    meta = json.loads(array_meta.read_text())
    meta["data_type"] = "object"  # what a pickled array declares: refused unread
    array_meta.write_text(json.dumps(meta))
    shutil.rmtree(plate_well_path(plate, "C03"))
    write_config(tmp_path, make_config(plate, wells=["B03", "C02"]))
    run_snakemake(tmp_path)
    assert nuclei_counts(tmp_path) == {w: disks[w] for w in ("B03", "C02")}


def imagexpress_plate(root: Path, wells=("B02", "B03", "C02")) -> dict[str, int]:
    """An ImageXpress folder: one site, channels w1 (nuclei) and w2, 3 z-step folders."""
    disks = {}
    for index, well in enumerate(wells):
        disks[well] = 2 + 3 * index
        for z in range(3):
            folder = root / f"ZStep_{z + 1}"
            folder.mkdir(parents=True, exist_ok=True)
            nuclei = disks_plane(disks[well], seed=10 * index + z)
            membrane = disks_plane(1, seed=100 + 10 * index + z)
            tifffile.imwrite(folder / f"P1_{well}_s1_w1.tif", nuclei)
            tifffile.imwrite(folder / f"P1_{well}_s1_w2.tif", membrane)
    return disks


INGEST_FAULTS = {
    "not a TIFF": lambda path: path.write_bytes(b"this is not a TIFF\n" * 10),
    "another shape": lambda path: tifffile.imwrite(path, np.zeros((32, 64), np.uint16)),
    "another dtype": lambda path: tifffile.imwrite(path, np.zeros((64, 64), np.float32)),
}


def ingest_run(tmp_path: Path, **plate_options) -> tuple[Path, dict[str, int]]:
    root = tmp_path / "MX"
    disks = imagexpress_plate(root)
    config = make_config(root)
    config["plates"]["tiny"].update(format="imagexpress", **plate_options)
    config["pipeline"][2]["channel"] = ["w1"]  # no .HTD file: channels named by wavelength
    write_config(tmp_path, config)
    return root / "ZStep_2" / "P1_B03_s1_w1.tif", disks


@pytest.mark.parametrize("fault", INGEST_FAULTS)
def test_a_bad_file_in_an_instrument_folder_fails_the_ingest_naming_it(tmp_path, fault):
    bad_file, _ = ingest_run(tmp_path)
    INGEST_FAULTS[fault](bad_file)
    result = run_snakemake(tmp_path, check=False)
    assert result.returncode != 0
    log = tmp_path / "logs/tiny/ingest_well/B03.log"
    assert log.is_file(), result.stdout + result.stderr
    assert str(bad_file) in log.read_text()


def test_a_skipped_instrument_well_is_ingested_once_its_file_is_fixed(tmp_path):
    bad_file, disks = ingest_run(tmp_path, on_bad_well="skip")
    good = bad_file.read_bytes()
    INGEST_FAULTS["not a TIFF"](bad_file)
    run_snakemake(tmp_path)
    assert nuclei_counts(tmp_path, "w1") == {w: n for w, n in disks.items() if w != "B03"}
    records = input_records(tmp_path)
    assert records["well"].tolist() == ["B03"]
    assert f"cannot read TIFF {bad_file}" in records["flag_reason"].iloc[0]
    assert open_plate(tmp_path / "results/tiny/ingested.zarr").wells == ["B02", "C02"]

    bad_file.write_bytes(good)
    run_snakemake(tmp_path)
    assert nuclei_counts(tmp_path, "w1") == disks
    assert input_records(tmp_path).empty
    assert job_counts(run_snakemake(tmp_path)) == {}
