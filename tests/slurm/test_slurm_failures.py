"""Failures on a real SLURM cluster: they stop the run, in bounded time, and a rerun heals."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest
from slurm_support import (
    RUN_TIMEOUT,
    job_environment,
    job_info,
    output_of,
    run_on_slurm,
    snakemake_command,
    submitted_jobs,
    wait_for_state,
)
from workflow_support import build_tiny_plate, make_config, numpy_pipeline, write_config

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

#: A batch of two wells, one of which cannot be read.
WELLS = ("B02", "B03")


def test_a_failing_well_fails_its_batch_job_without_hanging(slurm_profile, tmp_path):
    plate = tmp_path / "tiny.zarr"
    build_tiny_plate(plate, wells=WELLS)
    # B03 loses its image chunks: its first segment cannot read it (missing_chunks: error)
    for path in [p for p in (plate / "B/03").rglob("*") if p.is_file()]:
        if path.name != "zarr.json":
            path.unlink()
    pipeline = numpy_pipeline()
    pipeline[0]["backend"] = "torch"  # its own segment, normalize, then smooth_to_count
    config = make_config(plate, pipeline, wells=list(WELLS), cluster={"wells_per_job": 2})
    write_config(tmp_path, config)
    started = time.monotonic()
    # Without the profile's retry, which would only run the same failure again (and the
    # plugin's status checks back off by 10 s each time: a retry costs ~40 s here).
    result = run_on_slurm(tmp_path, slurm_profile, "--retries", "0")
    elapsed = time.monotonic() - started
    output = output_of(result)
    assert result.returncode != 0, output[-4000:]
    assert elapsed < 180, f"a failed run took {elapsed:.0f} s"
    assert "Error in rule well_batch_tiny_B02_B03" in output, output[-4000:]
    assert "logs/tiny/segment_normalize/B03.log" in output
    [job] = submitted_jobs(output)
    assert job_info(job)["JobState"] == "FAILED"
    # the job's SLURM log names the well and the stage that failed, and its log
    [slurm_log] = (tmp_path / ".snakemake/slurm_logs").rglob(f"{job}.log")
    assert (
        "1 of 2 wells of the batch failed: plate tiny well B03: segment normalize failed"
        in slurm_log.read_text()
    )
    assert "Traceback" in (tmp_path / "logs/tiny/segment_normalize/B03.log").read_text()
    # the other well ran to its end in the same job, and was kept for the rerun
    assert (tmp_path / "logs/tiny/well_tables/B02.log").read_text()
    assert (tmp_path / ".snakemake/hcs-steps/kept-wells/tiny/B02/manifest.json").is_file()


def test_a_killed_job_is_reported_and_rerun_by_rerun_incomplete(
    slurm_profile, tiny_plate, tmp_path
):
    pipeline = numpy_pipeline()
    pipeline[0]["backend"] = "torch"
    write_config(tmp_path, make_config(tiny_plate, pipeline, wells=["B03"]))
    transcript = tmp_path / "first-run.txt"
    # No retry, so the cancelled job is not resubmitted within the run.
    command = snakemake_command(tmp_path, slurm_profile, "--retries", "0")
    with transcript.open("w") as sink:
        run = subprocess.Popen(
            command, stdout=sink, stderr=subprocess.STDOUT, text=True, env=job_environment()
        )
        try:
            job = wait_for_submission(transcript, run)
            wait_for_state(job, "RUNNING")
            subprocess.run(["scancel", job], check=True)
            run.wait(timeout=RUN_TIMEOUT)
        finally:
            run.kill()
    output = transcript.read_text()
    assert run.returncode != 0, output[-4000:]
    assert job_info(job)["JobState"] == "CANCELLED"
    # the report names the job's SLURM log, and that log says why it stopped
    slurm_log = re.search(rf"log: (\S+/slurm_logs/\S+/{job}\.log)", output)
    assert slurm_log, output[-4000:]
    assert f"JOB {job} ON localhost CANCELLED" in Path(slurm_log[1]).read_text()

    rerun = run_on_slurm(tmp_path, slurm_profile)
    assert rerun.returncode == 0, output_of(rerun)[-4000:]
    assert len(submitted_jobs(output_of(rerun))) == 1  # the well, submitted again
    counts = pd.read_parquet(tmp_path / "results/tiny/tables/wells/B03/counts.parquet")
    assert set(counts["count"]) == {5}  # build_tiny_plate draws 5 disks in B03


def wait_for_submission(transcript, run, timeout: float = 120) -> str:
    """The SLURM job id of the first submission in a running Snakemake's transcript."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and run.poll() is None:
        found = re.search(r"submitted with SLURM jobid (\d+)", transcript.read_text())
        if found:
            return found[1]
        time.sleep(0.2)
    raise AssertionError(f"no SLURM submission within {timeout} s:\n{transcript.read_text()}")
