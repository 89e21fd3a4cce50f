"""The demo config through `snakemake --profile` on the test cluster, on two wells.

Unlike the tiny OME-Zarr plate, the demo plate is ingested, so ingest_well runs inside the
wells' SLURM job too (one job: the default cluster.wells_per_job batches both wells).
`project` is pinned to torch: under the profile's gpu=True `auto` picks cupy (when
installed), which cannot run on the test cluster's GPUs (no CUDA).
"""

from __future__ import annotations

import pandas as pd
import pytest
import yaml
from slurm_support import REPO, job_info, output_of, run_on_slurm, submitted_jobs
from workflow_support import assert_demo_b03_counted_closely, write_config

pytestmark = [pytest.mark.slurm, pytest.mark.slow]


def test_the_demo_runs_on_slurm_one_job_per_batch(slurm_profile, tmp_path):
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["wells"] = ["B03", "C04"]
    config["gpu_resources"] = {"slurm_partition": "gpu"}
    for entry in config["pipeline"]:
        if entry["name"] == "project":
            entry["backend"] = "torch"
    write_config(tmp_path, config)
    layout = config["plates"]["demo"]["layout"]  # relative to the working directory
    (tmp_path / layout).write_text((REPO / layout).read_text())
    result = run_on_slurm(tmp_path, slurm_profile)
    output = output_of(result)
    assert result.returncode == 0, output[-6000:]
    jobs = submitted_jobs(output)
    assert len(jobs) == 1 and {job_info(job)["JobState"] for job in jobs} == {"COMPLETED"}
    slurm_logs = [p.read_text() for p in (tmp_path / ".snakemake/slurm_logs").rglob("*.log")]
    for well in config["wells"]:
        # each well's ingest ran in the SLURM job of its segments and tables
        [log] = [text for text in slurm_logs if f"logs/demo/ingest_well/{well}.log" in text]
        assert f"logs/demo/well_tables/{well}.log" in log
    results = tmp_path / "results" / "demo"
    summary = pd.read_csv(results / "tables" / "summary.csv")
    assert set(summary["well"]) == {"B03", "C04"}
    # B03's slabs cut through the labelled nuclei: counted closely, as in a local run
    assert_demo_b03_counted_closely(results)
