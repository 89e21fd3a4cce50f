"""Real Snakemake runs of the repository's Snakefile on tiny plates."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml
from workflow_support import (
    REPO,
    WELLS,
    assert_demo_b03_counted_closely,
    build_tiny_plate,
    files_under,
    job_counts,
    make_config,
    mtimes_under,
    numpy_pipeline,
    run_snakemake,
    write_config,
)

from hcs_steps.plate import open_plate, read_well
from hcs_steps.plate.labels import read_field_labels

pytestmark = pytest.mark.slow


def planned_jobs(result, rule: str) -> list[str]:
    """The dry-run blocks (rule, files, resources) of every job of ``rule``."""
    return [block for block in result.stdout.split("rule ") if block.startswith(f"{rule}:")]


@pytest.fixture(scope="module")
def plate_counts(tmp_path_factory):
    path = tmp_path_factory.mktemp("module-plate") / "tiny.zarr"
    return path, build_tiny_plate(path)


@pytest.fixture(scope="module")
def unfused_run(tmp_path_factory, plate_counts):
    """The numpy pipeline, one rule per step, run once for the tests of this module."""
    workdir = tmp_path_factory.mktemp("unfused")
    write_config(workdir, make_config(plate_counts[0], fuse=False))
    result = run_snakemake(workdir)
    return workdir, result


def test_dry_run_lists_one_job_per_segment_and_well(tmp_path, tiny_plate):
    write_config(tmp_path, make_config(tiny_plate))
    counts = job_counts(run_snakemake(tmp_path, "-n"))
    assert counts["segment_normalize_to_count"] == len(WELLS)
    assert "well_tables" not in counts  # the last segment's job writes the well's tables
    assert counts["plate_tables"] == counts["heatmaps"] == 1
    assert "ingest_well" not in counts  # an OME-Zarr plate is read in place
    assert not (tmp_path / "results").exists()


def test_last_segment_job_reads_earlier_measurements_and_writes_the_well_tables(
    tmp_path, tiny_plate
):
    write_config(tmp_path, make_config(tiny_plate, fuse=False))
    result = run_snakemake(tmp_path, "-n")
    counts = job_counts(result)
    assert counts["segment_normalize"] == counts["segment_count"] == len(WELLS)
    assert "well_tables" not in counts
    jobs = {rule: planned_jobs(result, rule) for rule in ("segment_smooth", "segment_count")}
    [smooth] = [job for job in jobs["segment_smooth"] if "/B02" in job]
    [count] = [job for job in jobs["segment_count"] if "/B02" in job]
    inputs, outputs = (
        count.split(heading)[1].split("\n")[0].strip().split(", ")
        for heading in ("input:", "output:")
    )
    # one directory of tables per segment and well, and of the well's tables
    for segment in ("normalize", "smooth"):
        assert f"results/tiny/measurements/{segment}/B02" in inputs, inputs
    assert "results/tiny/tables/wells/B02" in outputs, outputs
    assert "results/tiny/measurements/count/B02" in outputs, outputs
    assert "tables/wells" not in smooth and "measurements/normalize" not in smooth, smooth


def test_full_run_writes_plates_tables_heatmaps_logs(unfused_run, plate_counts, validate_plate):
    workdir, _ = unfused_run
    results = workdir / "results" / "tiny"
    for step in ("normalize", "smooth", "count"):
        layout = open_plate(results / "steps" / f"{step}.zarr")
        assert layout.wells == list(WELLS)
        assert layout.channel_names == ["nuclei", "membrane"]
        # valid OME-Zarr HCS for independent tools, and napari's reader (ome-zarr-py) opens it
        validate_plate(results / "steps" / f"{step}.zarr", wells=len(WELLS), field_count=1)
    assert read_well(results / "steps" / "count.zarr", "B02").shape == (1, 2, 3, 64, 64)
    counts = pd.read_parquet(results / "tables" / "counts.parquet")
    assert list(counts.columns[:5]) == ["plate", "well", "field", "channel", "step"]
    assert set(counts["channel"]) == {"nuclei"}
    per_well = counts.groupby("well")["count"].max().to_dict()
    assert per_well == plate_counts[1]
    assert pd.read_csv(results / "tables" / "counts.csv").shape == counts.shape
    objects = pd.read_parquet(results / "tables" / "objects.parquet")
    assert {"plate", "well", "field", "channel", "area", "mean_intensity"} <= set(objects.columns)
    heatmaps = sorted(p.name for p in (results / "heatmaps").glob("*.png"))
    assert "count.nuclei.count_mean.png" in heatmaps
    for rule in ("segment_normalize", "segment_smooth", "segment_count", "well_tables"):
        assert len(list((workdir / "logs" / "tiny" / rule).glob("*.log"))) == len(WELLS)
    assert len(list((results / "benchmarks").rglob("*.tsv"))) == 3 * len(WELLS)
    assert "numpy" in (workdir / "logs/tiny/segment_count/B02.log").read_text()


def test_report_holds_heatmaps_config_and_versions(unfused_run):
    workdir, _ = unfused_run
    run_snakemake(workdir, "--report", "report.html")
    html = (workdir / "report.html").read_text(errors="replace")
    for name in ("count.nuclei.count_mean.png", "software_versions.csv", "config.yaml"):
        assert name in html


def test_single_well_rerun_is_byte_identical_and_alone(unfused_run):
    workdir, _ = unfused_run
    results = workdir / "results" / "tiny"

    def outputs():  # benchmark files record timings: they differ on every run
        return {p: b for p, b in files_under(results).items() if not p.startswith("benchmarks/")}

    before, stamps = outputs(), mtimes_under(results)
    # one segment of one well, by its target path
    target = results / "steps" / "count.zarr" / "B" / "03" / "zarr.json"
    result = run_snakemake(workdir, "-f", str(target.relative_to(workdir)))
    assert job_counts(result) == {"segment_count": 1}
    # the whole chain of one well: force everything its table depends on
    well_tables = results / "tables" / "wells" / "B03"
    result = run_snakemake(workdir, "-F", str(well_tables.relative_to(workdir)))
    assert job_counts(result) == {"segment_normalize": 1, "segment_smooth": 1, "segment_count": 1}
    assert outputs() == before
    changed = {p for p, t in mtimes_under(results).items() if stamps.get(p) != t}
    assert changed and all(
        "B/03/" in p or "/B03/" in p or p.startswith("benchmarks/") for p in changed
    ), changed


def test_parameter_change_reruns_only_affected_rules(unfused_run):
    workdir, _ = unfused_run
    config = yaml.safe_load((workdir / "config" / "config.yaml").read_text())
    run_snakemake(workdir)  # bring everything downstream of the forced well up to date
    steps = workdir / "results" / "tiny" / "steps"
    stamps = mtimes_under(steps)
    config["pipeline"][1]["params"]["sigma"] = 1.5
    write_config(workdir, config)
    counts = job_counts(run_snakemake(workdir))
    assert "segment_normalize" not in counts
    assert counts["segment_smooth"] == counts["segment_count"] == len(WELLS)
    after = mtimes_under(steps)
    assert all(after[p] == t for p, t in stamps.items() if p.startswith("normalize.zarr"))
    assert any(after[p] != t for p, t in stamps.items() if p.startswith("smooth.zarr"))


def test_fused_and_unfused_give_identical_results(tmp_path, tiny_plate):
    pipeline = numpy_pipeline()
    pipeline[0]["backend"] = pipeline[1]["backend"] = "torch"
    outputs = {}
    for fuse in (True, False):
        workdir = tmp_path / f"fuse-{fuse}"
        write_config(workdir, make_config(tiny_plate, pipeline, fuse=fuse))
        counts = job_counts(run_snakemake(workdir))
        segments = sorted(rule for rule in counts if rule.startswith("segment_"))
        expected = (
            ["segment_count", "segment_normalize_to_smooth"]
            if fuse
            else ["segment_count", "segment_normalize", "segment_smooth"]
        )
        assert segments == expected
        results = workdir / "results" / "tiny"
        outputs[fuse] = (
            {w: read_well(results / "steps" / "count.zarr", w) for w in WELLS},
            pd.read_parquet(results / "tables" / "objects.parquet"),
        )
    for well in WELLS:
        np.testing.assert_array_equal(outputs[True][0][well], outputs[False][0][well])
    pd.testing.assert_frame_equal(outputs[True][1], outputs[False][1])
    assert not (tmp_path / "fuse-True/results/tiny/steps/normalize.zarr").exists()


def test_keep_writes_an_intermediate_of_a_fused_segment(tmp_path, tiny_plate):
    write_config(tmp_path, make_config(tiny_plate, keep=["normalize"], wells=["B02"]))
    run_snakemake(tmp_path)
    steps = tmp_path / "results" / "tiny" / "steps"
    assert sorted(p.name for p in steps.iterdir()) == ["count.zarr", "normalize.zarr"]


def test_pipeline_across_five_libraries(tmp_path, tiny_plate):
    pipeline = [
        {"name": "normalize", "step": "stack_percentile_normalize", "backend": "torch"},
        {"name": "smooth_jax", "step": "gaussian", "backend": "jax", "params": {"sigma": 0.5}},
        {
            "name": "smooth_tf",
            "step": "gaussian",
            "backend": "tensorflow",
            "params": {"sigma": 0.5},
        },
        {"name": "median", "step": "median", "backend": "pyclesperanto", "params": {"radius": 1}},
        {**numpy_pipeline()[2], "backend": "auto"},
    ]
    write_config(tmp_path, make_config(tiny_plate, pipeline, wells=["C02"]))
    run_snakemake(tmp_path)  # no GPU visible: HCS_STEPS_VISIBLE_GPUS="" unless set
    logs = {
        path.parent.name: path.read_text()
        for path in (tmp_path / "logs" / "tiny").glob("segment_*/C02.log")
    }
    for rule, library in [
        ("segment_normalize", "torch"),
        ("segment_smooth_jax", "jax"),
        ("segment_smooth_tf", "tensorflow"),
        ("segment_median", "pyclesperanto"),
    ]:
        # a GPU-capable library on a machine without a GPU: on the CPU, and why
        assert (
            f"({library}): device cpu - planned for the CPU: gpu: auto and no GPU visible"
            in logs[rule]
        ), logs[rule]
        assert f"[{library}] (backend: configured) params {{" in logs[rule]
        assert f"data in {library} on " in logs[rule]  # the library's own name of the device
    assert (
        "median[pyclesperanto] (backend: configured) params {'radius': 1}" in logs["segment_median"]
    )
    count_log = logs["segment_count"]
    assert "(numpy): device cpu - planned for the CPU: numpy runs on the CPU only" in count_log
    assert "count_cells_single_channel[numpy] (backend: auto (no GPU in use)" in count_log
    assert "'min_area': 20" in count_log and "channels ['nuclei']" in count_log
    counts = pd.read_parquet(tmp_path / "results/tiny/tables/counts.parquet")
    assert counts["count"].max() == 8


def test_gpu_typed_rules_request_a_gpu(tmp_path, tiny_plate):
    pipeline = numpy_pipeline()
    pipeline[1]["backend"] = "torch"
    write_config(
        tmp_path,
        make_config(tiny_plate, pipeline, gpu=True, gpu_resources={"slurm_partition": "gpu"}),
    )
    result = run_snakemake(tmp_path, "-n", "--resources", "gpu=1")
    torch_jobs = planned_jobs(result, "segment_smooth")
    assert torch_jobs and all("gpu=1" in b and "slurm_partition=gpu" in b for b in torch_jobs)
    numpy_jobs = planned_jobs(result, "segment_count")
    assert numpy_jobs and all("gpu=1" not in block for block in numpy_jobs)


def test_invalid_config_is_refused_before_any_job(tmp_path, tiny_plate):
    pipeline = numpy_pipeline()
    pipeline[1]["params"] = {"sigma": "wide"}
    write_config(tmp_path, make_config(tiny_plate, pipeline))
    result = run_snakemake(tmp_path, check=False)
    assert result.returncode != 0
    assert "pipeline[1].params" in result.stderr + result.stdout
    assert not (tmp_path / "results").exists()


def test_demo_config_runs_end_to_end(tmp_path, validate_plate):
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["wells"] = ["B03", "C04"]
    write_config(tmp_path, config)
    layout = config["plates"]["demo"]["layout"]  # relative to the working directory
    (tmp_path / layout).write_text((REPO / layout).read_text())
    run_snakemake(tmp_path)
    results = tmp_path / "results" / "demo"
    assert (results / "ingested.zarr" / "zarr.json").is_file()
    # steps reading every channel (measure_objects, grow_cells) write tables and labels,
    # not a plate: the counting step's plate holds every object set as labels of each field
    assert sorted(p.name for p in (results / "steps").iterdir()) == ["count.zarr", "tophat.zarr"]
    labels = read_field_labels(results / "steps" / "count.zarr" / "B" / "03" / "0")
    assert sorted(labels) == ["cell_nuclei", "cells", "cells_cytoplasm", "count"]
    validate_plate(results / "steps" / "count.zarr", wells=2, field_count=2)
    features = pd.read_csv(results / "tables" / "features.csv")
    objects = pd.read_csv(results / "tables" / "objects.csv")
    keys = ["plate", "well", "field", "plane", "label"]
    # one object set per step: the counting step's objects, measured by "measure"
    nuclei = objects.query("step == 'count'")
    joined = nuclei.merge(features.query("step == 'measure'"), on=keys, validate="one_to_one")
    assert len(joined) == len(nuclei) > 0
    assert {"count_area", "count_mean_nuclei", "count_mean_nuclear"} <= set(features.columns)
    # nuclei -> cells -> cytoplasm of channel cells, each measured in every channel, one
    # row per object, joined on the label they share
    by_object = {
        step: features[features["step"] == step].dropna(axis=1, how="all")
        for step in ("measure_cell_nuclei", "measure_cells", "measure_cytoplasm")
    }
    cells = by_object["measure_cell_nuclei"].merge(
        by_object["measure_cells"], on=keys, validate="one_to_one"
    )
    cells = cells.merge(by_object["measure_cytoplasm"], on=keys, validate="one_to_one")
    assert len(cells) == len(by_object["measure_cells"]) >= 4
    assert (cells["cells_area"] > cells["cell_nuclei_area"]).mean() > 0.9
    assert (cells["cells_cytoplasm_area"] == cells["cells_area"] - cells["cell_nuclei_area"]).all()
    for objects in ("cell_nuclei", "cells", "cells_cytoplasm"):
        for channel in ("nuclei", "nuclear", "cells"):
            assert cells[f"{objects}_mean_{channel}"].notna().all()
    # the label image and the table agree on every cell's area
    b03 = cells.query("well == 'B03' and field == 0")
    areas = np.bincount(labels["cells"][0].ravel())
    assert dict(zip(b03["label"], b03["cells_area"], strict=True)) == {
        value: areas[value] for value in np.unique(labels["cells"]) if value
    }
    summary = pd.read_csv(results / "tables" / "summary.csv")
    assert set(summary["well"]) == {"B03", "C04"}
    assert len(list((results / "heatmaps").glob("count.*.png"))) == 4
    # B03's slabs cut through the labelled nuclei: the demo pipeline counts them closely.
    assert_demo_b03_counted_closely(results)


@pytest.mark.parametrize("flag", ["--profile", "--workflow-profile"])
def test_slurm_profile_plans_one_gpu_job_per_batch_of_wells(tmp_path, tiny_plate, flag):
    pipeline = numpy_pipeline()
    pipeline[0]["backend"] = "torch"
    write_config(
        tmp_path, make_config(tiny_plate, pipeline, gpu_resources={"slurm_partition": "gpu"})
    )
    profile = REPO / "profiles" / "slurm-gpu"
    settings = yaml.safe_load((profile / "config.yaml").read_text())
    assert settings["executor"] == "slurm" and settings["group-components"] == ["well=1"]
    result = run_snakemake(tmp_path, "-n", flag, str(profile))
    assert f"{profile.parent}/slurm-gpu" in result.stderr.split("for setting")[0]
    # submitting jobs, the wells' chains are one rule per batch of cluster.wells_per_job
    # (default 4: all three wells); each well's torch segment adds a GPU to the request
    [batch] = planned_jobs(result, "well_batch_tiny_B02_C02")
    assert f"gpu={len(WELLS)}" in batch and "slurm_partition=gpu" in batch, batch
    assert f"cpus_per_task={2 * len(WELLS)}" in batch and "runtime=30" in batch, batch
    assert not planned_jobs(result, "well_chain") + planned_jobs(result, "segment_normalize")
    assert not planned_jobs(result, "well_tables")


PLUGIN = '''
from hcs_steps import memory
from hcs_steps.steps import register_step


@register_step("invert")
@memory.numpy
def invert_numpy(stack, *, maximum=65535):
    """Invert a uint16 stack."""
    return maximum - stack
'''


def test_a_plugin_step_runs_in_the_workflow(tmp_path, tiny_plate, monkeypatch):
    (tmp_path / "mylab_steps.py").write_text(PLUGIN)
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    pipeline = [{"name": "inverted", "step": "invert", "params": {"maximum": 4000}}]
    write_config(
        tmp_path, make_config(tiny_plate, pipeline, plugins=["mylab_steps"], wells=["B02"])
    )
    run_snakemake(tmp_path)
    inverted = read_well(tmp_path / "results/tiny/steps/inverted.zarr", "B02")
    np.testing.assert_array_equal(inverted, 4000 - read_well(tiny_plate, "B02"))
