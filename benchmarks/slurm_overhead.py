"""What a well costs on SLURM beyond its image work, against a local run of the same plate.

Needs a cluster that takes jobs: the test cluster of ``tests/slurm/start-slurm.sh`` (one
2-CPU node, two fake GPUs). Runs the demo config on ``--wells`` wells, each run from
scratch in its own directory:

- ``local``: ``snakemake --cores 2`` (a rule per stage, in threads of one process,
  ``profiles/default``);
- ``slurm``: ``snakemake --profile`` with ``profiles/slurm-gpu`` changed only in its site
  lines (the test profile of ``tests/slurm``), twice: ``cluster.wells_per_job: 1`` (one
  SLURM job per well, its whole chain one ``well_chain`` rule) and ``--batch`` wells per job
  (default: all ``--wells``; one ``well_batch`` job runs its wells' chains at once).

``--before PATH`` adds the columns of an earlier result file of this benchmark (the numbers
before the chain rule: a group job of a rule per stage) to the table.

The demo's ``project`` step is pinned to torch: under the profile's ``gpu=True`` ``auto``
picks cupy, which cannot run on the test cluster's GPUs (no CUDA behind them).

For each SLURM job it reads ``scontrol show job`` (start, end) and the hcs-steps logs of
its well (first to last line of each stage: the image work). Python starts are counted, not
inferred: a ``sitecustomize`` put first on ``PYTHONPATH`` (which sbatch and srun pass on)
appends every interpreter's command line to a file; a start belongs to a job when its
``--target-jobs`` name the job's well (``well_chain``) or the job's rule (a batch's rule is
the batch's own).

    python benchmarks/slurm_overhead.py [--wells 2] [--batch N] [--before PATH] [--out PATH]

Prints a table (now and the issue's target) and writes JSON (default
``benchmarks/results/slurm_overhead.json``).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "tests" / "slurm"), str(REPO / "tests" / "workflow")]

from slurm_support import (  # noqa: E402
    cluster_problem,
    counting_environment,
    job_info,
    output_of,
    recorded_starts,
    run_on_slurm,
    slurm_time,
    starts_of,
    starts_of_rule,
    submitted_jobs,
    write_test_profile,
)
from workflow_support import run_snakemake, write_config  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "slurm_overhead.json"
DEMO_WELLS = ("B02", "B03", "C02", "C03", "B04", "C04")
LOG_TIME = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) ", re.MULTILINE)
#: The issue's goal: a well costs at most one Python start on a cluster.
TARGET_STARTS_PER_WELL = 1
#: What one SLURM job costs with the plugin however little it runs: the job's Snakemake
#: (sbatch) and the one it runs the job in (srun).
STARTS_PER_JOB = 2


def demo_config(wells, wells_per_job: int = 1) -> dict:
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["wells"] = list(wells)
    config["cluster"] = {"wells_per_job": wells_per_job}
    for entry in config["pipeline"]:
        if entry["name"] == "project":
            entry["backend"] = "torch"
    config["gpu_resources"] = {"slurm_partition": "gpu"}
    return config


def write_demo(workdir: Path, config: dict) -> None:
    """The config, and the demo's layout it names (relative to the working directory)."""
    write_config(workdir, config)
    layout = config["plates"]["demo"]["layout"]
    (workdir / layout).write_text((REPO / layout).read_text())


def log_span(path: Path) -> float:
    """Seconds from the first to the last line of an hcs-steps job log."""
    stamps = LOG_TIME.findall(path.read_text())
    parse = [datetime.datetime.strptime(s, "%Y-%m-%d %H:%M:%S,%f") for s in stamps]
    return (parse[-1] - parse[0]).total_seconds() if parse else 0.0


def log_times(path: Path) -> list[float]:
    return [
        datetime.datetime.strptime(s, "%Y-%m-%d %H:%M:%S,%f").timestamp()
        for s in LOG_TIME.findall(path.read_text())
    ]


def first_log_time(paths: list[Path]) -> float:
    return min(times[0] for times in map(log_times, paths) if times)


def well_span(paths: list[Path]) -> tuple[float, float]:
    """A well's first to last log line over its stages' logs: when its work ran."""
    times = [time for path in paths for time in log_times(path)]
    return min(times), max(times)


def slurm_jobs(workdir: Path, output: str, starts: list[list[str]]) -> list[dict]:
    """One record per SLURM job of a run: wells, elapsed, Python starts, work, start-up."""
    logs = {p.stem: p.read_text() for p in (workdir / ".snakemake/slurm_logs").rglob("*.log")}
    records = []
    for job in submitted_jobs(output):
        info, text = job_info(job), logs[job]
        rule_logs = sorted(set(re.findall(r"(logs/demo/\w+/[A-Z]{1,2}\d\d\.log)", text)))
        wells = sorted({Path(p).stem for p in rule_logs})
        paths = [workdir / p for p in rule_logs]
        start, end = slurm_time(info["StartTime"]), slurm_time(info["EndTime"])
        rule = re.search(r"^rule (\w+):", text, re.MULTILINE)[1]
        if rule.startswith("well_batch"):
            job_starts = starts_of_rule(rule, starts)
        else:
            job_starts = [argv for well in wells for argv in starts_of(well, starts)]
        records.append(
            {
                "job": job,
                "rule": rule,
                "wells": wells,
                "cpus": int(info["NumCPUs"]),
                "gpus": info.get("TresPerJob", "-"),
                "well_spans": [well_span([p for p in paths if p.stem == well]) for well in wells],
                "elapsed_s": end - start,
                "python_starts": len(job_starts),
                "work_s": round(sum(log_span(p) for p in paths), 2),
                "startup_s": round(first_log_time(paths) - start, 2),
                "start": start,
                "end": end,
            }
        )
    return records


def run_cluster(workdir: Path, profile: Path, wells, wells_per_job: int, *extra: str) -> dict:
    write_demo(workdir, demo_config(wells, wells_per_job))
    record = workdir / "python-starts.txt"
    env = counting_environment(workdir / "hook", record)
    started = time.monotonic()
    result = run_on_slurm(workdir, profile, *extra, env=env, timeout=1200)
    wall = time.monotonic() - started
    if result.returncode != 0:
        raise SystemExit(f"the SLURM run failed:\n{output_of(result)[-4000:]}")
    jobs = slurm_jobs(workdir, output_of(result), recorded_starts(record))
    per_well = len(wells)
    return {
        "wells_per_job": wells_per_job,
        "wall_s": round(wall, 1),
        "jobs": jobs,
        "python_starts_per_well": sum(j["python_starts"] for j in jobs) / per_well,
        "job_s_per_well": round(sum(j["elapsed_s"] for j in jobs) / per_well, 1),
        "work_s_per_well": round(sum(j["work_s"] for j in jobs) / per_well, 1),
        "startup_s_per_job": round(statistics.mean(j["startup_s"] for j in jobs), 1),
        "jobs_at_once": max_overlap([(j["start"], j["end"]) for j in jobs]),
        "wells_at_once": max_overlap([span for j in jobs for span in j["well_spans"]]),
    }


def max_overlap(spans: list[tuple[float, float]]) -> int:
    """The most spans (start, end) under way at one time."""
    events = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    running = most = 0
    for _, change in events:
        running += change
        most = max(most, running)
    return most


def table(local: dict, runs: list[dict]) -> list[tuple]:
    """Rows of (measure, local, *runs, target)."""

    def row(label, key, local_value="-", target="-"):
        return (label, local_value, *[run.get(key, "-") for run in runs], target)

    return [
        row("wells per SLURM job", "wells_per_job"),
        row("wall time of the plate, s", "wall_s", local["wall_s"]),
        row("Python starts per well", "python_starts_per_well", local["python_starts_per_well"],
            TARGET_STARTS_PER_WELL),
        row("SLURM job time per well, s", "job_s_per_well"),
        row("image work per well, s", "work_s_per_well"),
        row("job start to first image work, s", "startup_s_per_job"),
        row("SLURM jobs running at once", "jobs_at_once"),
        row("wells running at once (their logs)", "wells_at_once"),
    ]  # fmt: skip


def run_local(workdir: Path, wells) -> dict:
    write_demo(workdir, {**demo_config(wells), "gpu": True})
    record = workdir / "python-starts.txt"
    saved = dict(os.environ)
    os.environ.update(counting_environment(workdir / "hook", record))
    try:
        started = time.monotonic()
        run_snakemake(workdir)
        wall = round(time.monotonic() - started, 1)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return {"wall_s": wall, "python_starts_per_well": len(recorded_starts(record)) / len(wells)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wells", type=int, default=2, choices=range(1, 7))
    parser.add_argument("--batch", type=int, help="wells per job of the batch run (all)")
    parser.add_argument("--before", type=Path, help="an earlier result file, as a column")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    problem = cluster_problem()
    if problem:
        raise SystemExit(f"no SLURM cluster (tests/slurm/start-slurm.sh): {problem}")
    wells = DEMO_WELLS[: args.wells]
    before = json.loads(args.before.read_text()) if args.before else None
    with tempfile.TemporaryDirectory(prefix="slurm-overhead-") as scratch:
        scratch = Path(scratch)
        profile = write_test_profile(scratch / "profile")
        local = run_local(scratch / "local", wells)
        chain = run_cluster(scratch / "slurm", profile, wells, 1)
        batch = run_cluster(scratch / "slurm-batch", profile, wells, args.batch or len(wells))
    # the earlier file's wells_at_once counted jobs: the wells of a job then ran in turn
    runs = [{"jobs_at_once": before["slurm_one_well_per_job"]["wells_at_once"],
             **before["slurm_one_well_per_job"]}] if before else []  # fmt: skip
    header = ["", "local", *(["slurm (before)"] if before else []), "slurm well_chain"]
    header += ["slurm well_batch", "target"]
    rows = table(local, [*runs, chain, batch])
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "machine": platform.node(),
        "wells": list(wells),
        "load_average": os.getloadavg(),
        "local_wall_s": local["wall_s"],
        "local_python_starts_per_well": local["python_starts_per_well"],
        "slurm_one_well_per_job": chain,
        "slurm_batch": batch,
        "python_starts_per_slurm_job": STARTS_PER_JOB,
        "target_python_starts_per_well": TARGET_STARTS_PER_WELL,
    }
    if before:
        record["before"] = {"source": str(args.before), **before["slurm_one_well_per_job"]}
    args.out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
