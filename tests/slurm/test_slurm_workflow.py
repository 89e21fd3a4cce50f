"""The workflow through `snakemake --profile` on a real SLURM cluster, on a tiny plate.

One cluster run of two wells (a torch segment, GPU-typed under the profile's gpu=True,
then a numpy segment) is shared by the tests that only read what it did. The two wells are
one batch (cluster.wells_per_job: 2), one SLURM job that asks for both wells' CPUs, memory
and GPUs (the node's two) and runs the wells at once.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from slurm_support import (
    counting_environment,
    job_info,
    output_of,
    recorded_starts,
    run_on_slurm,
    starts_of_rule,
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
BATCH_RULE = "well_batch_tiny_B02_C02"

#: What a local run and a cluster run must write alike (benchmarks hold timings, logs hosts).
COMPARED = ("steps", "measurements", "tables", "heatmaps")


def plate_config(plate, **extra) -> dict:
    """normalize in torch (a GPU-typed segment), then smooth and count in numpy."""
    pipeline = numpy_pipeline()
    pipeline[0]["backend"] = "torch"
    return make_config(
        plate,
        pipeline,
        wells=list(WELLS),
        gpu_resources={"slurm_partition": "gpu"},
        cluster={"wells_per_job": len(WELLS)},
        **extra,
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


def test_a_batch_of_wells_is_one_completed_slurm_job(cluster_run):
    workdir, output = cluster_run
    [job] = submitted_jobs(output)
    info = job_info(job)
    assert info["JobState"] == "COMPLETED"
    [slurm_log] = [
        path.read_text() for path in (workdir / ".snakemake" / "slurm_logs").rglob("*.log")
    ]
    assert f"rule {BATCH_RULE}:" in slurm_log
    for well in WELLS:
        # every well's whole chain ran inside that one job
        for rule in ("segment_normalize", "segment_smooth_to_count", "well_tables"):
            assert f"logs/tiny/{rule}/{well}.log" in slurm_log, (rule, well)
    # plate-level rules are localrules: they ran on the submitting node
    assert "localrule plate_tables:" in output and "localrule heatmaps:" in output


def test_the_job_asks_for_every_wells_share(cluster_run):
    _, output = cluster_run
    [job] = submitted_jobs(output)
    info = job_info(job)
    # the test profile's one well: 1 CPU, 1000 MB; a GPU for its torch segment
    assert info["NumCPUs"] == str(len(WELLS)), info
    assert info["MinMemoryNode"] == f"{1000 * len(WELLS)}M", info
    assert (info["TresPerJob"], info["Partition"]) == (f"gres:gpu:{len(WELLS)}", "gpu"), info


def test_a_well_costs_at_most_one_python_start(cluster_run):
    workdir, _ = cluster_run
    starts = recorded_starts(workdir / "python-starts.txt")
    # the job's Snakemake (sbatch) and the one it runs the rule in (srun), shared by the
    # batch's wells; the wells' stages run in threads of the second
    batch_starts = starts_of_rule(BATCH_RULE, starts)
    in_sbatch = [argv for argv in batch_starts if "slurm-jobstep" in argv]
    assert len(batch_starts) == 2 and len(in_sbatch) == 1, batch_starts
    assert len(batch_starts) / len(WELLS) <= 1


def test_each_gpu_well_runs_on_its_own_gpu_of_the_job(cluster_run):
    workdir, output = cluster_run
    [job] = submitted_jobs(output)
    gpus = set()
    for well in WELLS:
        log = (workdir / "logs/tiny/segment_normalize" / f"{well}.log").read_text()
        [gpu] = re.findall(rf"GPU (\d) \(cuda:\d\) of {len(WELLS)} assigned by SLURM", log)
        assert f"SLURM job {job}: CUDA_VISIBLE_DEVICES=" in log, log
        gpus.add(gpu)
        numpy_log = (workdir / "logs/tiny/segment_smooth_to_count" / f"{well}.log").read_text()
        assert "device cpu - planned for the CPU: numpy runs on the CPU only" in numpy_log
    assert len(gpus) == len(WELLS), gpus


def log_span(path: Path) -> tuple[float, float]:
    """The times of a job log's first and last lines (joblog: ``%(asctime)s`` first)."""
    stamps = re.findall(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3})", path.read_text(), re.M)
    seconds = [
        time.mktime(time.strptime(day, "%Y-%m-%d %H:%M:%S")) + int(ms) / 1000 for day, ms in stamps
    ]
    return seconds[0], seconds[-1]


def test_the_wells_of_a_job_run_at_once(cluster_run):
    workdir, _ = cluster_run
    spans = []
    for well in WELLS:
        started, _ = log_span(workdir / "logs/tiny/segment_normalize" / f"{well}.log")
        _, ended = log_span(workdir / "logs/tiny/well_tables" / f"{well}.log")
        spans.append((started, ended))
    # each well started before any other finished: side by side, not one after another
    assert max(start for start, _ in spans) < min(end for _, end in spans), spans


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
