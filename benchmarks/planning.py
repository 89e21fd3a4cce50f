"""How long planning a plate takes: the Snakefile parse, ``snakemake -n`` and ``hcs-steps plan``.

Builds a synthetic 1536-well OME-Zarr plate (1 field x 2 channels x 32 x 32 ``uint16`` per
well: planning reads metadata, never pixels) and a 96-well one, points the demo pipeline at
them (4 steps, 2 segments: 2 jobs per well, the second of which also writes the well's
tables, plus the plate rules) and times, as subprocesses:

- the parse alone: ``snakemake --list-rules`` (Python start, Snakemake import, Snakefile);
  on the 96-well plate too, to show that it does not grow with the wells;
- ``snakemake -n``: parse, DAG of every job, dry run;
- ``hcs-steps plan``.

    python benchmarks/planning.py [--quick] [--source DIR] [--workdir DIR] [--out PATH]

``--quick`` plans a 384-well plate instead (a check, not the table's measurement);
``--source`` measures another hcs-steps checkout on the same plates. Prints the issue's
table (now, target) and writes JSON (default ``benchmarks/results/planning.json``).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_support import (
    REPO,
    demo_pipeline_config,
    print_table,
    snakemake,
    synthetic,
    timed,
    write_results,
)

WELL_SHAPE = {"fields": 1, "channels": 2, "z": 1, "y": 32, "x": 32, "objects_per_field": 1}


def job_count(source: Path, workdir: Path) -> int:
    result = subprocess.run(
        snakemake(source, workdir, "-n", "--cores", "2"),
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(source), "PATH": "/usr/bin:/bin", "HCS_STEPS_VISIBLE_GPUS": ""},
    )
    return int(re.search(r"^total\s+(\d+)$", result.stdout, re.MULTILINE)[1])


def measure(source: Path, workdir: Path, wells: int) -> dict:
    plates = {n: synthetic(workdir / f"plate{n}.zarr", n, **WELL_SHAPE) for n in (96, wells)}
    runs = {}
    for n, plate in plates.items():
        runs[n] = workdir / f"run{n}"
        demo_pipeline_config(runs[n], plate)
    big = runs[wells]
    return {
        "wells": wells,
        "jobs": job_count(source, big),
        "parse": timed(snakemake(source, big, "--list-rules"), source=source).as_dict(),
        "parse_96": timed(snakemake(source, runs[96], "--list-rules"), source=source).as_dict(),
        "dry_run": timed(snakemake(source, big, "-n", "--cores", "2"), source=source).as_dict(),
        "plan": timed(
            [sys.executable, "-m", "hcs_steps.cli", "plan", "config/config.yaml"],
            source=source,
            cwd=big,
        ).as_dict(),
    }


def table(result: dict) -> list[dict]:
    wells, dry, parse = result["wells"], result["dry_run"], result["parse"]
    return [
        {
            "what": f"`snakemake -n`, {wells} wells x 4 steps ({result['jobs']} jobs)",
            "now": f"{dry['wall_s']:.1f} s ({dry['cpu_s']:.1f} s CPU)",
            "target": "< 10 s",
        },
        {
            "what": f"parse (`snakemake --list-rules`), {wells} wells",
            "now": f"{parse['wall_s']:.1f} s ({parse['cpu_s']:.1f} s CPU; 96 wells: "
            f"{result['parse_96']['wall_s']:.1f} s)",
            "target": "< 2 s",
        },
        {
            "what": f"`hcs-steps plan`, {wells} wells",
            "now": f"{result['plan']['wall_s']:.1f} s ({result['plan']['cpu_s']:.1f} s CPU)",
            "target": "part of the parse",
        },
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="384 wells instead of 1536")
    parser.add_argument("--source", type=Path, default=REPO, help="hcs-steps checkout to run")
    parser.add_argument(
        "--workdir", type=Path, default=Path(tempfile.gettempdir()) / "hcs-steps-bench-planning"
    )
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    result = measure(args.source.resolve(), args.workdir, 384 if args.quick else 1536)
    rows = table(result)
    print_table(rows)
    out = write_results(
        "planning", rows, {"source": str(args.source), "measured": result}, args.out
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
