"""What a well costs on SLURM beyond its image work, against a local run of the same plate.

Needs a cluster that takes jobs: the test cluster of ``tests/slurm/start-slurm.sh`` (one
2-CPU node, two fake GPUs). Runs the demo config on ``--wells`` wells, each run from
scratch in its own directory:

- ``local``: ``snakemake --cores 2`` (a rule per stage, in threads of one process,
  ``profiles/default``);
- ``slurm``: ``snakemake --profile`` with ``profiles/slurm-gpu`` changed only in its site
  lines (the test profile of ``tests/slurm``): one SLURM job per well, its whole chain one
  ``well_chain`` rule.

``--before PATH`` adds the columns of an earlier result file of this benchmark (the numbers
before the chain rule: a group job of a rule per stage) to the table.

The demo's ``project`` step is pinned to torch: under the profile's ``gpu=True`` ``auto``
picks cupy, which cannot run on the test cluster's GPUs (no CUDA behind them).

For each SLURM job it reads ``scontrol show job`` (start, end) and the hcs-steps logs of
its well (first to last line of each stage: the image work). Python starts are counted, not
inferred: a ``sitecustomize`` put first on ``PYTHONPATH`` (which sbatch and srun pass on)
appends every interpreter's command line to a file; a start belongs to a well when its
``--target-jobs`` name the well.

    python benchmarks/slurm_overhead.py [--wells 2] [--before PATH] [--out PATH]

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


def demo_config(wells) -> dict:
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["wells"] = list(wells)
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


def first_log_time(paths: list[Path]) -> float:
    stamps = [LOG_TIME.search(path.read_text()) for path in paths]
    return min(
        datetime.datetime.strptime(s[1], "%Y-%m-%d %H:%M:%S,%f").timestamp() for s in stamps if s
    )


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
        records.append(
            {
                "job": job,
                "wells": wells,
                "elapsed_s": end - start,
                "python_starts": sum(len(starts_of(well, starts)) for well in wells),
                "work_s": round(sum(log_span(p) for p in paths), 2),
                "startup_s": round(first_log_time(paths) - start, 2),
                "start": start,
                "end": end,
            }
        )
    return records


def run_cluster(workdir: Path, profile: Path, wells, *extra: str) -> dict:
    write_demo(workdir, demo_config(wells))
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
        "wall_s": round(wall, 1),
        "jobs": jobs,
        "python_starts_per_well": sum(j["python_starts"] for j in jobs) / per_well,
        "job_s_per_well": round(sum(j["elapsed_s"] for j in jobs) / per_well, 1),
        "work_s_per_well": round(sum(j["work_s"] for j in jobs) / per_well, 1),
        "startup_s_per_job": round(statistics.mean(j["startup_s"] for j in jobs), 1),
        "wells_at_once": max_overlap(jobs),
    }


def max_overlap(jobs: list[dict]) -> int:
    """The most jobs running at one time."""
    events = sorted([(j["start"], 1) for j in jobs] + [(j["end"], -1) for j in jobs])
    running = most = 0
    for _, change in events:
        running += change
        most = max(most, running)
    return most


def table(local: dict, now: dict, before: dict | None) -> list[tuple]:
    """Rows of (measure, local, [before,] now, target)."""
    runs = [before, now] if before else [now]

    def row(label, key, local_value="-", target="-"):
        return (label, local_value, *[run[key] for run in runs], target)

    return [
        row("wall time of the plate, s", "wall_s", local["wall_s"]),
        row("Python starts per well", "python_starts_per_well", local["python_starts_per_well"],
            TARGET_STARTS_PER_WELL),
        row("SLURM job time per well, s", "job_s_per_well"),
        row("image work per well, s", "work_s_per_well"),
        row("job start to first image work, s", "startup_s_per_job"),
        row("wells' jobs running at once", "wells_at_once"),
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
        now = run_cluster(scratch / "slurm", profile, wells)
    header = ("", "local", *(["slurm (before)"] if before else []), "slurm (now)", "target")
    rows = table(local, now, before and before["slurm_one_well_per_job"])
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
        "slurm_one_well_per_job": now,
        "python_starts_per_slurm_job": STARTS_PER_JOB,
        "target_python_starts_per_well": TARGET_STARTS_PER_WELL,
    }
    if before:
        record["before"] = {"source": str(args.before), **before["slurm_one_well_per_job"]}
    args.out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
