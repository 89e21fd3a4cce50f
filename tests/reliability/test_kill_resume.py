"""SIGKILL of a running workflow, then unlock and rerun: the results of an uninterrupted run.

The Snakemake process group is killed at several points (while wells are being written,
inside a segment's write, while the plate tables are made). Afterwards ``--unlock`` and a
rerun with ``--rerun-incomplete`` must give byte-identical results, redo only what was not
finished, and no partly written zarr group or table may have been taken as complete.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from workflow_support import (
    REPO,
    build_tiny_plate,
    files_under,
    make_config,
    run_snakemake,
    write_config,
)

pytestmark = pytest.mark.slow


def results(workdir):
    """Every result file but Snakemake's benchmark records (how long a job took) and the
    hidden ``.*.tmp`` files that a killed writer leaves, which no reader looks at."""
    return {
        name: data
        for name, data in files_under(workdir / "results").items()
        if "benchmarks" not in name.split("/") and not _hidden_temporary(name)
    }


def _hidden_temporary(name: str) -> bool:
    return any(part.startswith(".") and part.endswith(".tmp") for part in name.split("/"))


def executed_jobs(output: str) -> int:
    """How many jobs a run executed, from Snakemake's own closing line."""
    for line in reversed(output.splitlines()):
        if "steps" in line and "done" in line and "(" in line:
            return int(line.split(" of ")[0].split()[-1])
    return 0


@pytest.fixture(scope="module")
def plate(tmp_path_factory):
    path = tmp_path_factory.mktemp("plate") / "tiny.zarr"
    build_tiny_plate(path)
    return path


@pytest.fixture(scope="module")
def reference(tmp_path_factory, plate):
    workdir = tmp_path_factory.mktemp("reference")
    write_config(workdir, make_config(plate, fuse=False))
    done = run_snakemake(workdir)
    return results(workdir), executed_jobs(done.stdout + done.stderr)


def start(workdir):
    command = [
        sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"),
        "--directory", str(workdir), "--cores", "1",
    ]  # fmt: skip
    return subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group, killed whole
        env={**os.environ, "HCS_STEPS_VISIBLE_GPUS": ""},
    )


# Moments to kill at, each after at least one job has certainly finished (so that a
# rerun has something to keep): the second or third segment of a well is writing, a well's
# tables are being merged, the plate tables are being made.
def a_later_segment_is_writing_a_well(workdir):
    steps = workdir / "results/tiny/steps"
    return any(steps.glob("smooth.zarr/?/.*.tmp")) or any(steps.glob("count.zarr/?/.*.tmp"))


def well_tables_started(workdir):
    return (workdir / "logs/tiny/well_tables").exists()


def plate_tables_started(workdir):
    return (workdir / "logs/tiny/plate_tables").exists()


@pytest.mark.parametrize(
    "moment", [a_later_segment_is_writing_a_well, well_tables_started, plate_tables_started]
)
def test_killed_run_resumes_to_identical_results(tmp_path, plate, reference, moment):
    expected, all_jobs = reference
    write_config(tmp_path, make_config(plate, fuse=False))
    process = start(tmp_path)
    deadline = time.monotonic() + 300
    while not moment(tmp_path):
        assert process.poll() is None, f"the run ended before {moment.__name__}"
        assert time.monotonic() < deadline
        time.sleep(0.001)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()

    locked = run_snakemake(tmp_path, check=False)
    assert locked.returncode != 0 and "--unlock" in locked.stdout + locked.stderr
    run_snakemake(tmp_path, "--unlock")
    rerun = run_snakemake(tmp_path, "--rerun-incomplete")
    redone = executed_jobs(rerun.stdout + rerun.stderr)
    assert 0 < redone < all_jobs  # only what was not finished
    assert results(tmp_path) == expected


def test_a_deleted_result_well_is_rebuilt_by_a_plain_run(
    tmp_path, plate, reference, validate_plate
):
    import shutil

    expected, _ = reference
    write_config(tmp_path, make_config(plate, fuse=False))
    run_snakemake(tmp_path)
    shutil.rmtree(tmp_path / "results/tiny/steps/smooth.zarr/B/03")
    rerun = run_snakemake(tmp_path)
    assert executed_jobs(rerun.stdout + rerun.stderr) > 0
    assert (tmp_path / "results/tiny/steps/smooth.zarr/B/03").is_dir()
    validate_plate(tmp_path / "results/tiny/steps/smooth.zarr", wells=3, field_count=1)
    assert results(tmp_path) == expected
