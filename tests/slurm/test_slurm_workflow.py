"""The workflow through `snakemake --profile` on a real SLURM cluster, on a tiny plate.

One cluster run of two wells (a torch segment, GPU-typed under the profile's gpu=True,
then a numpy segment) is shared by the tests that only read what it did; two wells, so
that both jobs fit the node's two GPUs at once.
"""

from __future__ import annotations

import time

import pytest
from slurm_support import (
    counting_environment,
    job_info,
    output_of,
    recorded_starts,
    run_on_slurm,
    slurm_time,
    starts_of,
    submitted_jobs,
)
from workflow_support import (
    files_under,
    make_config,
    numpy_pipeline,
    run_snakemake,
    write_config,
)

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

WELLS = ("B02", "C02")

#: What a local run and a cluster run must write alike (benchmarks hold timings, logs hosts).
COMPARED = ("steps", "measurements", "tables", "heatmaps")


def plate_config(plate, **extra) -> dict:
    """normalize in torch (a GPU-typed segment), then smooth and count in numpy."""
    pipeline = numpy_pipeline()
    pipeline[0]["backend"] = "torch"
    return make_config(
        plate, pipeline, wells=list(WELLS), gpu_resources={"slurm_partition": "gpu"}, **extra
    )


@pytest.fixture(scope="module")
def cluster_run(slurm_profile, tiny_plate, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("cluster")
    write_config(workdir, plate_config(tiny_plate))
    env = counting_environment(workdir / "hook", workdir / "python-starts.txt")
    result = run_on_slurm(workdir, slurm_profile, env=env)
    output = output_of(result)
    assert result.returncode == 0, output[-6000:]
    return workdir, output


def test_every_well_is_one_completed_slurm_job(cluster_run):
    workdir, output = cluster_run
    jobs = submitted_jobs(output)
    assert len(jobs) == len(WELLS), output[-4000:]
    assert {job_info(job)["JobState"] for job in jobs} == {"COMPLETED"}
    slurm_logs = [
        path.read_text() for path in (workdir / ".snakemake" / "slurm_logs").rglob("*.log")
    ]
    assert len(slurm_logs) == len(WELLS)
    for well in WELLS:
        [log] = [text for text in slurm_logs if f"logs/tiny/segment_normalize/{well}.log" in text]
        # the well's whole chain ran inside that one job
        assert f"logs/tiny/segment_smooth_to_count/{well}.log" in log
        assert f"logs/tiny/well_tables/{well}.log" in log
    # plate-level rules are localrules: they ran on the submitting node
    assert "localrule plate_tables:" in output and "localrule heatmaps:" in output


def test_a_well_costs_two_python_starts(cluster_run):
    workdir, _ = cluster_run
    starts = recorded_starts(workdir / "python-starts.txt")
    for well in WELLS:
        # the job's Snakemake (sbatch) and the one it runs the rule in (srun); the rule's
        # stages run in a thread of the second, not each in a Snakemake of its own
        well_starts = starts_of(well, starts)
        in_sbatch = [argv for argv in well_starts if "slurm-jobstep" in argv]
        assert len(well_starts) == 2 and len(in_sbatch) == 1, well_starts


def test_gpu_segments_request_a_gpu_and_log_the_one_slurm_gave(cluster_run):
    workdir, output = cluster_run
    jobs = submitted_jobs(output)
    for job in jobs:
        info = job_info(job)
        assert (info["TresPerJob"], info["Partition"]) == ("gres:gpu:1", "gpu"), info
    seen_jobs = set()
    for well in WELLS:
        log = (workdir / "logs/tiny/segment_normalize" / f"{well}.log").read_text()
        [(job, device)] = [
            line.split("SLURM job ")[1].split(": CUDA_VISIBLE_DEVICES=")
            for line in log.splitlines()
            if "CUDA_VISIBLE_DEVICES=" in line
        ]
        assert job in jobs and device in {"0", "1"}, log
        assert f"GPU {device} (cuda:0) of 1 assigned by SLURM" in log
        seen_jobs.add(job)
        numpy_log = (workdir / "logs/tiny/segment_smooth_to_count" / f"{well}.log").read_text()
        assert "device cpu - planned for the CPU: numpy runs on the CPU only" in numpy_log
    assert seen_jobs == set(jobs)


def test_wells_run_at_once(cluster_run):
    _, output = cluster_run
    spans = sorted(
        (slurm_time(info["StartTime"]), slurm_time(info["EndTime"]))
        for info in map(job_info, submitted_jobs(output))
    )
    # two GPUs: the two wells' jobs run side by side
    (first_start, first_end), (second_start, _) = spans
    assert second_start < first_end, spans


def test_cluster_results_equal_a_local_run_byte_for_byte(cluster_run, tiny_plate, tmp_path):
    workdir, _ = cluster_run
    # the same plan as on the cluster (gpu=True there); without a GPU here torch runs on the
    # CPU, as it did in the cluster's jobs (no CUDA behind the test cluster's GPUs)
    write_config(tmp_path, plate_config(tiny_plate, gpu=True))
    started = time.monotonic()
    run_snakemake(tmp_path)
    assert time.monotonic() - started < 120
    for name in COMPARED:
        local = files_under(tmp_path / "results/tiny" / name)
        assert local, name
        assert files_under(workdir / "results/tiny" / name) == local, name
