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
from workflow_support import make_config, numpy_pipeline, write_config

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

FAILING_PLUGIN = '''
from hcs_steps import memory
from hcs_steps.steps import register_step


@register_step("fail_on_purpose")
@memory.numpy
def fail_on_purpose(stack):
    """Fail as a step with a bug would."""
    raise RuntimeError("this step fails on purpose")
'''


def test_a_failing_job_fails_the_run_without_hanging(slurm_profile, tiny_plate, tmp_path):
    (tmp_path / "failing_steps.py").write_text(FAILING_PLUGIN)
    pipeline = [{"name": "broken", "step": "fail_on_purpose"}]
    config = make_config(tiny_plate, pipeline, wells=["B02"], plugins=["failing_steps"])
    write_config(tmp_path, config)
    started = time.monotonic()
    # Without the profile's retry, which would only run the same failure again (and the
    # plugin's status checks back off by 10 s each time: a retry costs ~40 s here).
    result = run_on_slurm(
        tmp_path, slurm_profile, "--retries", "0", env=job_environment(PYTHONPATH=str(tmp_path))
    )
    elapsed = time.monotonic() - started
    output = output_of(result)
    assert result.returncode != 0, output[-4000:]
    assert elapsed < 180, f"a failed run took {elapsed:.0f} s"
    assert "Error in rule well_batch_tiny_B02" in output, output[-4000:]
    assert "logs/tiny/segment_broken/B02.log" in output
    [job] = submitted_jobs(output)
    assert job_info(job)["JobState"] == "FAILED"
    # the job's SLURM log names the well and the stage that failed
    [slurm_log] = (tmp_path / ".snakemake/slurm_logs").rglob(f"{job}.log")
    assert "plate tiny well B02: segment broken failed" in slurm_log.read_text()
    log = (tmp_path / "logs/tiny/segment_broken/B02.log").read_text()
    assert "RuntimeError: this step fails on purpose" in log


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
    counts = pd.read_parquet(tmp_path / "results/tiny/tables/wells/B03.counts.parquet")
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
