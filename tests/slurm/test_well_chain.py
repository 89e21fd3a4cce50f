"""The cluster's rules per well and per batch of wells (workflow/rules/well_chain.smk), run
locally by real Snakemake.

Snakemake takes a run for a cluster's when jobs are submitted (``--jobs``); with a local
executor ``--cores 2 --jobs 2`` does the same, so these run in the main suite, without a
cluster: one well_chain job per well (cluster.wells_per_job: 1) or one job per batch, the
bytes of a run with a rule per stage, and a failing stage named with its well and log.
"""

from __future__ import annotations

import os

import pytest
from workflow_support import (
    build_tiny_plate,
    files_under,
    job_counts,
    make_config,
    numpy_pipeline,
    run_snakemake,
    write_config,
)

pytestmark = pytest.mark.slow

WELLS = ["B02", "C02"]
#: Everything a well's stages write (logs and benchmarks hold times and hosts).
COMPARED = ("steps", "measurements", "tables", "heatmaps")
AS_ON_A_CLUSTER = ("--jobs", "2")
ONE_WELL_PER_JOB = {"cluster": {"wells_per_job": 1}}


@pytest.fixture(scope="module")
def staged_run(tiny_plate, tmp_path_factory):
    """Three wells through the rules per stage (a local run), for the cluster rules to match."""
    workdir = tmp_path_factory.mktemp("staged")
    write_config(workdir, two_segments(tiny_plate, BATCHED_WELLS))
    run_snakemake(workdir)
    return workdir


def two_segments(plate, wells, **extra):
    pipeline = numpy_pipeline()
    pipeline[0]["backend"] = "torch"  # two segments: normalize, then smooth_to_count
    return make_config(plate, pipeline, wells=list(wells), **extra)


def assert_written_alike(staged, clustered, wells):
    for name in COMPARED:
        expected = files_under(staged / "results/tiny" / name)
        assert expected, name
        assert files_under(clustered / "results/tiny" / name) == expected, name
    # each stage still writes its own log, where a local run writes it
    for well in wells:
        for rule in ("segment_normalize", "segment_smooth_to_count", "well_tables"):
            assert (clustered / "logs/tiny" / rule / f"{well}.log").read_text(), (rule, well)


def test_the_chain_rule_writes_what_the_rules_per_stage_write(staged_run, tiny_plate, tmp_path):
    write_config(tmp_path, two_segments(tiny_plate, BATCHED_WELLS, **ONE_WELL_PER_JOB))
    jobs = job_counts(run_snakemake(tmp_path, *AS_ON_A_CLUSTER))
    assert jobs["well_chain"] == len(BATCHED_WELLS), jobs
    assert not {"well_tables", "segment_normalize"} & set(jobs), jobs
    assert_written_alike(staged_run, tmp_path, BATCHED_WELLS)


#: Three wells in batches of two: a full batch and the rest.
BATCHED_WELLS = ["B02", "B03", "C02"]
BATCH_RULES = {"well_batch_tiny_B02_B03": 1, "well_batch_tiny_C02": 1}


def test_batches_of_wells_write_what_the_rules_per_stage_write(staged_run, tiny_plate, tmp_path):
    batched = {"cluster": {"wells_per_job": 2}}
    write_config(tmp_path, two_segments(tiny_plate, BATCHED_WELLS, **batched))
    result = run_snakemake(tmp_path, *AS_ON_A_CLUSTER)
    jobs = job_counts(result)
    assert {rule: jobs.get(rule) for rule in BATCH_RULES} == BATCH_RULES, jobs
    assert not {"well_chain", "well_tables", "segment_normalize"} & set(jobs), jobs
    assert_written_alike(staged_run, tmp_path, BATCHED_WELLS)
    # a batch's job asks for its wells' resources added up (the profile's default runtime)
    planned = run_snakemake(
        tmp_path,
        "-n",
        "-F",
        *AS_ON_A_CLUSTER,
        "--default-resources",
        "mem_mb=1000",
        "cpus_per_task=2",
        "runtime=30",
    )
    [pair] = [b for b in planned.stdout.split("rule ")[1:] if b.startswith(BATCH_RULES_FIRST)]
    assert "mem_mb=2000" in pair and "cpus_per_task=4" in pair and "runtime=30" in pair, pair
    # nothing left to do: the batches' outputs are complete
    assert not job_counts(run_snakemake(tmp_path, *AS_ON_A_CLUSTER))


BATCH_RULES_FIRST = "well_batch_tiny_B02_B03:"


FAILING_PLUGIN = '''
from hcs_steps import memory
from hcs_steps.steps import register_step


@register_step("fail_on_purpose")
@memory.numpy
def fail_on_purpose(stack):
    """Fail as a step with a bug would."""
    raise RuntimeError("this step fails on purpose")
'''


def test_a_failing_stage_names_its_well_and_log(tiny_plate, tmp_path, monkeypatch):
    (tmp_path / "failing_steps.py").write_text(FAILING_PLUGIN)
    # the plugin beside the test's own code; CI runs with no PYTHONPATH at all
    search_path = [str(tmp_path), os.environ.get("PYTHONPATH")]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, search_path)))
    pipeline = [numpy_pipeline()[0], {"name": "broken", "step": "fail_on_purpose"}]
    config = make_config(
        tiny_plate,
        pipeline,
        wells=["B02"],
        plugins=["failing_steps"],
        fuse=False,
        **ONE_WELL_PER_JOB,
    )
    write_config(tmp_path, config)
    result = run_snakemake(tmp_path, *AS_ON_A_CLUSTER, check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-4000:]
    assert (
        "plate tiny well B02: segment broken failed (RuntimeError: this step fails on purpose);"
        " its log: logs/tiny/segment_broken/B02.log" in output
    ), output[-4000:]
    log = (tmp_path / "logs/tiny/segment_broken/B02.log").read_text()
    assert "RuntimeError: this step fails on purpose" in log
    # the stages before it ran and logged; Snakemake removed the failed job's outputs
    # (a result well is declared by its zarr.json: without it the well is not done)
    assert (tmp_path / "logs/tiny/segment_normalize/B02.log").read_text()
    assert not (tmp_path / "results/tiny/steps/normalize.zarr/B/02/zarr.json").exists()


def test_a_failing_well_fails_its_batch_and_the_others_complete(staged_run, tmp_path):
    plate = tmp_path / "tiny.zarr"
    build_tiny_plate(plate, wells=("B02", "B03"))  # the wells' data of the staged run
    # B03 loses its image chunks: its first segment cannot read it (missing_chunks: error)
    aside = tmp_path / "aside"
    chunks = [p for p in (plate / "B/03").rglob("*") if p.is_file() and p.name != "zarr.json"]
    assert chunks
    for path in chunks:
        (aside / path.relative_to(plate)).parent.mkdir(parents=True, exist_ok=True)
        path.rename(aside / path.relative_to(plate))
    workdir = tmp_path / "run"
    write_config(workdir, two_segments(plate, ["B02", "B03"], cluster={"wells_per_job": 2}))
    result = run_snakemake(workdir, *AS_ON_A_CLUSTER, check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-4000:]
    assert "1 of 2 wells of the batch failed: plate tiny well B03: segment normalize failed" in (
        output
    ), output[-4000:]
    assert "its log: logs/tiny/segment_normalize/B03.log" in output, output[-4000:]
    assert "Error in rule well_batch_tiny_B02_B03" in output, output[-4000:]
    # B02 ran to its end beside it (its tables, its chain's last stage, logged), and was
    # kept aside: Snakemake removed the failed job's outputs, so none is taken as done
    b02_log = workdir / "logs/tiny/segment_normalize/B02.log"
    first_log = b02_log.read_text()
    assert (workdir / "logs/tiny/well_tables/B02.log").read_text()
    assert not (workdir / "results/tiny/tables/wells/B02").exists()
    assert not (workdir / "results/tiny/steps/normalize.zarr/B/02/zarr.json").exists()
    assert (workdir / ".snakemake/hcs-steps/kept-wells/tiny/B02/manifest.json").is_file()

    # B03 repaired: the rerun runs the batch again, B03 anew and B02 back from where it was
    for path in aside.rglob("*"):
        if path.is_file():
            path.rename(plate / path.relative_to(aside))
    rerun = run_snakemake(workdir, *AS_ON_A_CLUSTER)
    assert job_counts(rerun).get("well_batch_tiny_B02_B03") == 1, job_counts(rerun)
    assert "plate tiny well B02: kept from an earlier run, not rerun" in rerun.stdout + (
        rerun.stderr
    )
    assert b02_log.read_text() == first_log  # not run again
    assert not (workdir / ".snakemake/hcs-steps/kept-wells/tiny/B02").exists()
    for name in ("measurements", "tables/wells"):
        staged = files_under(staged_run / "results/tiny" / name)
        batched = files_under(workdir / "results/tiny" / name)
        for well in ("B02", "B03"):
            mine = {key: data for key, data in batched.items() if well in key}
            assert mine and mine == {k: v for k, v in staged.items() if well in k}, (name, well)
    # (a kept well made otherwise than now is dropped: tests/workflow/test_kept_wells.py)
