"""A local run schedules one round per finished job, not rounds that multiply with time.

Each of Snakemake's scheduling rounds stats every input of every ready job; with its job
rate limiter on, every round started a timer for another round, so rounds grew with the
finished jobs times the seconds of the run. Counted by wrapping the scheduler's
``job_selector`` in the Snakemake process (the test's only use of Snakemake internals).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from workflow_support import REPO, make_config, write_config

pytestmark = pytest.mark.slow

DRIVER = """
import atexit, json, sys
from snakemake.scheduling import job_scheduler

counts = {"rounds": 0, "finished": 0}
select, proceed = job_scheduler.JobScheduler.job_selector, job_scheduler.JobScheduler._proceed

def job_selector(self, jobs):
    counts["rounds"] += 1
    return select(self, jobs)

def _proceed(self, job):
    counts["finished"] += 1
    return proceed(self, job)

job_scheduler.JobScheduler.job_selector = job_selector
job_scheduler.JobScheduler._proceed = _proceed
atexit.register(lambda: print("ROUNDS " + json.dumps(counts)))
from snakemake.cli import main
sys.argv = ["snakemake", *sys.argv[1:]]
main()
"""


def test_local_run_schedules_once_per_finished_job(tmp_path, tiny_plate):
    write_config(tmp_path, make_config(tiny_plate))
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    command = [sys.executable, str(driver), "-s", str(REPO / "Snakefile")]
    command += ["--directory", str(tmp_path), "--cores", "2"]
    env = {**os.environ, "HCS_STEPS_VISIBLE_GPUS": ""}
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    line = next(x for x in result.stdout.splitlines() if x.startswith("ROUNDS "))
    counts = json.loads(line.removeprefix("ROUNDS "))
    assert counts["finished"] >= 8  # 3 wells x a segment (and its well tables) + plate rules
    # the first round, then at most one per finished job
    assert counts["rounds"] <= counts["finished"] + 1, counts
