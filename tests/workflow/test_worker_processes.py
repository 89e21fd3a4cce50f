"""Worker processes for local jobs (hcs_steps/workflow/worker_processes.py): the pool on its
own, then a real Snakemake run whose segment jobs run in it."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest
import worker_calls
from workflow_support import (
    build_tiny_plate,
    make_config,
    numpy_pipeline,
    run_snakemake,
    snakemake_command,
    write_config,
)

from hcs_steps.workflow.job_usage import JobUsage
from hcs_steps.workflow.worker_processes import WorkerDied, WorkerError, WorkerProcesses


def result_of(pool, function, **kwargs):
    result, _ = pool.run(function, **kwargs)
    return result


@pytest.fixture
def pool():
    workers = WorkerProcesses(2)
    yield workers
    workers.shutdown()


def test_a_call_runs_in_another_process_and_returns_its_result(pool):
    assert result_of(pool, worker_calls.process_id, job="a job") != os.getpid()


def test_workers_are_kept_so_each_imports_its_libraries_once(pool):
    first = result_of(pool, worker_calls.import_then_report, job="a job", name="colorsys")
    seen = {result_of(pool, worker_calls.process_id, job="a job") for _ in range(5)}
    assert seen == {first}  # one job at a time: the warm worker serves them all
    assert result_of(pool, worker_calls.loaded_modules, job="a job", names=["colorsys"]) == [
        "colorsys"
    ]


def test_jobs_at_once_get_a_worker_each_up_to_the_pool_size(pool):
    with ThreadPoolExecutor(6) as threads:
        pids = list(
            threads.map(
                lambda _: result_of(pool, worker_calls.process_id, job="a job", pause=0.3), range(6)
            )
        )
    assert len(set(pids)) == 2 and os.getpid() not in pids


def test_each_job_reports_its_own_time_cpu_and_peak_memory(pool):
    _, big = pool.run(worker_calls.allocate, job="a job", mib=200, seconds=0.2)
    _, small = pool.run(worker_calls.allocate, job="a job", mib=1, seconds=0.2)
    assert big.max_rss_mib - small.max_rss_mib > 150  # the peak is reset for each job
    assert big.seconds >= 0.2 and 0.1 < big.cpu_seconds <= big.seconds + 0.05


def test_a_job_usage_file_has_snakemake_benchmark_columns(tmp_path):
    path = tmp_path / "benchmarks/segment_count/B03.tsv"
    JobUsage(seconds=1.5, cpu_seconds=1.25, max_rss_mib=100.0).write(str(path))
    assert path.read_text() == "s\tcpu_time\tmax_rss\n1.5000\t1.2500\t104.86\n"
    JobUsage(seconds=1.5, cpu_seconds=1.25).write(str(path))
    assert path.read_text().splitlines()[1].split("\t")[2] == "NA"


def test_an_exception_comes_back_as_itself(pool):
    with pytest.raises(KeyError, match="plate p well B03"):
        result_of(pool, worker_calls.fail_with, job="a job", message="plate p well B03")


def test_an_exception_that_cannot_be_pickled_comes_back_as_text(pool):
    with pytest.raises(WorkerError, match=r"(?s)Unpicklable: field 2\n.*fail_unpicklably"):
        result_of(pool, worker_calls.fail_unpicklably, job="a job", message="field 2")


def test_a_dead_worker_fails_its_job_only_and_is_replaced(pool):
    results = {}

    def slow_job():
        results["slow"] = result_of(pool, worker_calls.process_id, job="slow", pause=1.0)

    thread = threading.Thread(target=slow_job)
    thread.start()
    with pytest.raises(WorkerDied, match="segment s of plate p, well B03: its worker process"):
        result_of(pool, worker_calls.die, job="segment s of plate p, well B03")
    thread.join()
    assert results["slow"] != os.getpid()  # the job beside it finished in its worker
    assert result_of(pool, worker_calls.process_id, job="next") == results["slow"]
    with ThreadPoolExecutor(2) as threads:  # and the pool is back to two workers
        pids = set(
            threads.map(
                lambda _: result_of(pool, worker_calls.process_id, job="a job", pause=0.3), range(2)
            )
        )
    assert len(pids) == 2 and results["slow"] in pids


# A numpy step that records which process ran it, and kills that process once when the file
# ``die_once`` exists (the job that claims the file by renaming it is the one that dies).
PROCESS_PLUGIN = """
import multiprocessing
import os
import signal
import time
from pathlib import Path

from hcs_steps import memory
from hcs_steps.steps import register_step


@register_step("record_process")
@memory.numpy
def record_process(stack, *, directory="", die_once="", wait_for=""):
    worker = multiprocessing.parent_process() is not None
    Path(directory, f"{os.getpid()}.{'worker' if worker else 'snakemake'}").touch()
    deadline = time.monotonic() + 120
    while wait_for and not Path(wait_for).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    if die_once:
        try:
            os.rename(die_once, die_once + ".claimed")
        except FileNotFoundError:
            pass
        else:
            os.kill(os.getpid(), signal.SIGKILL)
    return stack
"""


def process_config(
    tmp_path: Path, name: str, *, worker_processes: bool, die_once: str = "", wait_for: str = ""
):
    plate = tmp_path / "plate.zarr"
    if not plate.exists():
        build_tiny_plate(plate)
    (tmp_path / "process_steps.py").write_text(PROCESS_PLUGIN)
    records = tmp_path / f"{name}-processes"
    records.mkdir()
    recorder = {
        "name": "record",
        "step": "record_process",
        "params": {"directory": str(records), "die_once": die_once, "wait_for": wait_for},
    }
    workdir = tmp_path / name
    config = make_config(
        plate,
        [recorder, *numpy_pipeline()],
        plugins=["process_steps"],
        local={"worker_processes": worker_processes},
    )
    write_config(workdir, config)
    return workdir, records


def well_counts(workdir: Path) -> pd.DataFrame:
    return pd.read_parquet(workdir / "results/tiny/tables/counts.parquet")


@pytest.mark.slow
def test_segment_jobs_run_in_at_most_cores_workers_with_the_same_results(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    pooled, pooled_records = process_config(tmp_path, "pooled", worker_processes=True)
    threaded, threaded_records = process_config(tmp_path, "threaded", worker_processes=False)
    run_snakemake(pooled)
    run_snakemake(threaded)
    workers = {path.name for path in pooled_records.iterdir()}
    assert workers and all(name.endswith(".worker") for name in workers)
    assert len(workers) <= 2  # --cores 2
    in_snakemake = {path.name for path in threaded_records.iterdir()}
    assert len(in_snakemake) == 1 and next(iter(in_snakemake)).endswith(".snakemake")
    pd.testing.assert_frame_equal(well_counts(pooled), well_counts(threaded))
    # each segment job's usage, measured where it ran: its own peak only in a worker
    for workdir, peak_known in ((pooled, True), (threaded, False)):
        usage = list((workdir / "results/tiny/benchmarks").glob("segment_*/*.tsv"))
        assert len(usage) == 3 * len(list((workdir / "logs/tiny").glob("segment_*"))) > 0
        for path in usage:
            record = pd.read_csv(path, sep="\t", na_values="NA").iloc[0]
            assert record["s"] > 0 and record["cpu_time"] > 0
            assert (record["max_rss"] > 10) if peak_known else pd.isna(record["max_rss"])


@pytest.mark.slow
def test_a_killed_worker_fails_its_job_by_name_and_a_rerun_completes(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    trigger = tmp_path / "die-once"
    trigger.touch()
    workdir, _ = process_config(tmp_path, "run", worker_processes=True, die_once=str(trigger))
    failed = run_snakemake(workdir, check=False)
    assert failed.returncode != 0
    output = failed.stdout + failed.stderr
    assert "its worker process ended before it did" in output
    assert "of plate tiny, well " in output
    assert (tmp_path / "die-once.claimed").exists()
    run_snakemake(workdir)  # the trigger is spent: the rerun completes
    clean, _ = process_config(tmp_path, "clean", worker_processes=False)
    run_snakemake(clean)
    pd.testing.assert_frame_equal(well_counts(workdir), well_counts(clean))


@pytest.mark.slow
def test_workers_end_when_snakemake_is_killed(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    never = tmp_path / "never-opened"
    workdir, records = process_config(tmp_path, "run", worker_processes=True, wait_for=str(never))
    snakemake = subprocess.Popen(
        snakemake_command(workdir, "--cores", "2"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "HCS_STEPS_VISIBLE_GPUS": ""},
    )
    try:
        deadline = time.monotonic() + 120
        while not list(records.iterdir()):  # a worker is inside a job, waiting
            assert snakemake.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        snakemake.kill()
        snakemake.wait()
    workers = [int(path.name.split(".")[0]) for path in records.iterdir()]
    deadline = time.monotonic() + 30
    while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(alive(pid) for pid in workers)


def alive(pid: int) -> bool:
    """Whether ``pid`` is a process that has not exited (a zombie has: it awaits its reaper)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


UNGUARDED_SCRIPT = """
import os
import worker_calls
from hcs_steps.workflow.worker_processes import WorkerProcesses

print("script body", flush=True)
pool = WorkerProcesses(1)
pid, _ = pool.run(worker_calls.process_id, job="a job")
print("worker is another process:", pid != os.getpid())
pool.shutdown()
"""


def test_workers_do_not_rerun_a_main_script_without_a_guard(tmp_path):
    script = tmp_path / "drive.py"  # like a script driving Snakemake with no __main__ guard
    script.write_text(UNGUARDED_SCRIPT)
    path = os.pathsep.join([str(Path(worker_calls.__file__).parent), *sys.path])
    result = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": path},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["script body", "worker is another process: True"]


PATH_SCRIPT = """
import sys

sys.path.insert(0, sys.argv[1])  # as Snakemake puts the Snakefile's directory first
import probe_package
from hcs_steps.workflow.worker_processes import WorkerProcesses

pool = WorkerProcesses(1, preload=("probe_package",))
where, _ = pool.run(probe_package.where, job="a job")
print(probe_package.where(), where, sep="\\n")
pool.shutdown()
"""


def test_workers_import_what_the_parent_imported_not_an_installed_copy(tmp_path):
    for copy in ("installed", "beside_the_snakefile"):
        package = tmp_path / copy / "probe_package"
        package.mkdir(parents=True)
        (package / "__init__.py").write_text("def where():\n    return __file__\n")
    script = tmp_path / "drive.py"
    script.write_text(PATH_SCRIPT)
    path = os.pathsep.join([str(tmp_path / "installed"), *sys.path])
    result = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "beside_the_snakefile")],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": path},
    )
    assert result.returncode == 0, result.stderr
    parent, worker = result.stdout.splitlines()
    assert "beside_the_snakefile" in parent and worker == parent
