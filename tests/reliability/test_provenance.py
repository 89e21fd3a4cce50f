"""Provenance per plate and per run: a later run on another config keeps the earlier record.

Each plate's record lives in ``results/<plate>/provenance/<run>/`` (config, software versions,
how each well and step was made); the run id is a digest of the config and the versions.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml
from workflow_support import (
    build_tiny_plate,
    job_counts,
    make_config,
    numpy_pipeline,
    run_snakemake,
    write_config,
)

from hcs_steps.plate import array_checksum, read_well


def records(workdir, plate="tiny"):
    return sorted((workdir / "results" / plate / "provenance").iterdir())


def with_sigma(sigma: float) -> list[dict]:
    pipeline = numpy_pipeline()
    pipeline[1]["params"]["sigma"] = sigma
    return pipeline


@pytest.mark.slow
def test_one_record_per_run_and_a_changed_config_keeps_the_older(tmp_path):
    plate = tmp_path / "tiny.zarr"
    build_tiny_plate(plate)
    workdir = tmp_path / "work"
    write_config(workdir, make_config(plate, with_sigma(1.0), fuse=False))
    run_snakemake(workdir)
    [first] = records(workdir)
    config = yaml.safe_load((first / "config.yaml").read_text())
    assert config["pipeline"][1]["params"]["sigma"] == 1.0
    versions = pd.read_csv(first / "software_versions.csv")
    assert {"python", "numpy", "snakemake", "hcs-steps"} <= set(versions["software"])

    steps = pd.read_csv(first / "steps.csv")
    assert len(steps) == 3 * 3 and set(steps["well"]) == {"B02", "B03", "C02"}
    b02 = steps[steps["well"] == "B02"].set_index("step")
    assert list(b02["function"]) == [
        "stack_percentile_normalize",
        "gaussian",
        "count_cells_single_channel",
    ]
    assert set(b02["library"]) == {"numpy"} and set(b02["device"]) == {"cpu"}
    assert json.loads(b02.loc["smooth", "parameters"])["sigma"] == 1.0
    # the checksums are those of the data: the input plate's well and each written step's
    results = workdir / "results/tiny/steps"
    assert b02.loc["normalize", "input_checksum"] == array_checksum(read_well(plate, "B02"))
    normalized = array_checksum(read_well(results / "normalize.zarr", "B02"))
    assert b02.loc["normalize", "output_checksum"] == normalized
    assert b02.loc["smooth", "input_checksum"] == normalized
    count = array_checksum(read_well(results / "count.zarr", "B02"))
    assert b02.loc["count", "output_checksum"] == count

    # a rerun that computes nothing adds no record
    assert job_counts(run_snakemake(workdir)) == {}
    assert records(workdir) == [first]
    first_files = {p.name: p.read_bytes() for p in first.iterdir()}

    # another config: a new record beside the first, which is left as it was
    write_config(workdir, make_config(plate, with_sigma(2.0), fuse=False))
    assert job_counts(run_snakemake(workdir))["segment_smooth"] == 3
    assert len(records(workdir)) == 2
    [second] = [p for p in records(workdir) if p != first]
    assert {p.name: p.read_bytes() for p in first.iterdir()} == first_files
    assert yaml.safe_load((second / "config.yaml").read_text())["pipeline"][1]["params"] == {
        "sigma": 2.0
    }
    smooth = pd.read_csv(second / "steps.csv").query("step == 'smooth'")
    assert [json.loads(p)["sigma"] for p in smooth["parameters"]] == [2.0] * 3
    # and going back to the first config finds its record done again
    write_config(workdir, make_config(plate, with_sigma(1.0), fuse=False))
    run_snakemake(workdir)
    assert len(records(workdir)) == 2


@pytest.mark.slow
def test_each_plate_of_a_run_has_its_own_record(tmp_path):
    plates = {}
    for name, wells in (("left", ["B02", "B03"]), ("right", ["C02"])):
        plates[name] = tmp_path / f"{name}.zarr"
        build_tiny_plate(plates[name], wells=wells)
    config = make_config(plates["left"], fuse=False)
    config["plates"] = {name: {"path": str(p), "format": "ome-zarr"} for name, p in plates.items()}
    write_config(tmp_path / "work", config)
    run_snakemake(tmp_path / "work")
    for name, wells in (("left", {"B02", "B03"}), ("right", {"C02"})):
        [record] = records(tmp_path / "work", name)
        steps = pd.read_csv(record / "steps.csv")
        assert set(steps["plate"]) == {name} and set(steps["well"]) == wells


def test_a_result_well_without_segment_provenance_is_named(tmp_path):
    from hcs_steps.plate import PlateDataError, write_well
    from hcs_steps.workflow.run_record import SegmentPlates, steps_table

    plate = tmp_path / "tiny.zarr"
    build_tiny_plate(plate, wells=["B02"])
    foreign = tmp_path / "smooth.zarr"
    write_well(foreign, "B02", read_well(plate, "B02"), channel_names=["nuclei", "membrane"])
    segments = [SegmentPlates("smooth", str(plate), {"smooth": str(foreign)})]
    with pytest.raises(PlateDataError, match=r"smooth\.zarr, well B02: no hcs-steps segment"):
        steps_table("tiny", ["B02"], segments)
