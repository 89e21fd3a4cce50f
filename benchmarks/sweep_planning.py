"""Planning a parameter sweep: ``snakemake -n`` jobs and time, as ratios to the plain run.

Builds a 384-well synthetic OME-Zarr plate (tiny wells: planning reads no pixels) and a
three-segment numpy pipeline (normalize, smooth, count; ``fuse: false``), then dry-runs the
workflow without a sweep and with sweeps over the last two steps of 1, 4 (2 x 2) and 9
(3 x 3) combinations, none of them the plain pipeline's values. Each dry run is one
``python -m snakemake -n`` subprocess (parse, plan, DAG), timed best of ``--repeats`` by
the CPU time the subprocess used (user + system): on a shared machine wall time also
counts the waits for other processes, CPU time does not. Wall time is recorded too.

The targets: the dry run plans exactly the jobs that sharing allows (normalize once per
well, smooth once per well and smooth value, count once per well and combination, plus
the tables), and its time grows no faster than its job count.

    python benchmarks/sweep_planning.py [--wells 384] [--repeats 2] [--out PATH]

Prints a table and writes JSON (default ``benchmarks/results/sweep_planning.json``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

from hcs_steps.plate import write_plate_metadata, write_well
from hcs_steps.plate.layout import well_from_indices

REPO = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results" / "sweep_planning.json"
# the plain pipeline's values are sigma 1.0 and min_area 20; no swept value equals them
SIGMAS = [1.5, 2.0, 2.5]
MIN_AREAS = [30, 40, 50]
SWEEPS = {1: (SIGMAS[:1], MIN_AREAS[:1]), 4: (SIGMAS[:2], MIN_AREAS[:2]), 9: (SIGMAS, MIN_AREAS)}


def build_plate(path: Path, wells: int) -> list[str]:
    names = [well_from_indices(i // 24, i % 24 + 1) for i in range(wells)]
    data = np.zeros((1, 1, 2, 16, 16), dtype=np.uint16)
    for name in names:
        write_well(path, name, data, channel_names=["nuclei"])
    write_plate_metadata(path, name="synthetic384", wells=names, channel_names=["nuclei"])
    return names


def config(plate: Path, sweep: tuple | None) -> dict:
    step = {"backend": "numpy"}
    pipeline = [
        {**step, "name": "normalize", "step": "stack_percentile_normalize"},
        {**step, "name": "smooth", "step": "gaussian", "params": {"sigma": 1.0}},
        {**step, "name": "count", "step": "count_cells_single_channel", "params": {"min_area": 20}},
    ]
    document = {
        "plates": {"synthetic384": {"path": str(plate), "format": "ome-zarr"}},
        "pipeline": pipeline,
        "fuse": False,
    }
    if sweep:
        document["sweep"] = {"params": {"smooth.sigma": sweep[0], "count.min_area": sweep[1]}}
    return document


def expected_jobs(baseline: int, wells: int, sweep: tuple | None) -> int:
    """The jobs sharing allows: the baseline's, plus per well one smooth job per sigma and
    one count job and one table job per combination, plus the plate-level sweep rules."""
    if not sweep:
        return baseline
    sigmas, combinations = len(sweep[0]), len(sweep[0]) * len(sweep[1])
    per_well = sigmas + 2 * combinations
    plate_level = combinations + 3  # tables per combination; combinations, summary, plots
    return baseline + wells * per_well + plate_level


def child_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def dry_run(workdir: Path, repeats: int) -> tuple[int, float, float]:
    """(planned jobs, best CPU time, best wall time) of ``snakemake -n`` in ``workdir``."""
    command = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile")]
    command += ["--directory", str(workdir), "--cores", "2", "-n", "--quiet", "rules"]
    env = {**os.environ, "HCS_STEPS_VISIBLE_GPUS": ""}
    cpu = wall = float("inf")
    for _ in range(repeats):
        started, cpu_before = time.perf_counter(), child_cpu_seconds()
        result = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
        wall = min(wall, time.perf_counter() - started)
        cpu = min(cpu, child_cpu_seconds() - cpu_before)
        if result.returncode != 0:
            raise RuntimeError(f"snakemake -n failed:\n{result.stderr[-3000:]}")
    stats = (result.stdout + result.stderr).split("Job stats:")[1]
    return int(re.search(r"^total\s+(\d+)$", stats, re.MULTILINE)[1]), cpu, wall


def measure(work: Path, wells: int, repeats: int) -> list[dict]:
    plate = work / "synthetic384.zarr"
    build_plate(plate, wells)
    rows, baseline = [], None
    for combinations, sweep in [(0, None), *SWEEPS.items()]:
        workdir = work / f"sweep-{combinations}"
        (workdir / "config").mkdir(parents=True)
        (workdir / "config" / "config.yaml").write_text(yaml.safe_dump(config(plate, sweep)))
        jobs, seconds, wall = dry_run(workdir, repeats)
        baseline = baseline or {"jobs": jobs, "seconds": seconds}
        expected = expected_jobs(baseline["jobs"], wells, sweep)
        job_ratio, time_ratio = jobs / baseline["jobs"], seconds / baseline["seconds"]
        rows.append(
            {
                "combinations": combinations,
                "jobs": jobs,
                "expected_jobs": expected,
                "jobs_ratio": round(job_ratio, 3),
                "dry_run_cpu_s": round(seconds, 2),
                "dry_run_wall_s": round(wall, 2),
                "time_ratio": round(time_ratio, 3),
                "targets": {
                    "jobs_as_shared": jobs == expected,
                    "time_grows_no_faster_than_jobs": time_ratio <= job_ratio * 1.05,
                },
            }
        )
    return rows


def table(rows: list[dict]) -> str:
    lines = [
        f"{'combinations':>12} {'jobs':>6} {'(target)':>8} {'x base':>7} {'dry run':>8} "
        f"{'x base':>7} {'(target)':>9} {'wall':>7}",
        f"{'':>12} {'':>6} {'':>8} {'':>7} {'CPU s':>8} {'':>7} {'':>9} {'s':>7}",
    ]
    for r in rows:
        lines.append(
            f"{r['combinations']:>12} {r['jobs']:>6} {r['expected_jobs']:>8} "
            f"{r['jobs_ratio']:>7.2f} {r['dry_run_cpu_s']:>8.2f} {r['time_ratio']:>7.2f} "
            f"{'<= ' + format(r['jobs_ratio'] * 1.05, '.2f'):>9} {r['dry_run_wall_s']:>7.2f}"
        )
    return "\n".join(lines)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wells", type=int, default=384)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as work:
        rows = measure(Path(work), args.wells, args.repeats)
    result = {
        "benchmark": "sweep_planning",
        "data": {
            "plate": f"synthetic OME-Zarr, {args.wells} wells of 1 x 1 x 2 x 16 x 16",
            "pipeline": "normalize -> smooth -> count, numpy, fuse: false (3 segments)",
            "sweeps": {n: {"smooth.sigma": s, "count.min_area": a} for n, (s, a) in SWEEPS.items()},
        },
        "repeats": args.repeats,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "rows": rows,
    }
    print(table(rows))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")
    return result


if __name__ == "__main__":
    main()
