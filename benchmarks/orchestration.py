"""What Snakemake's orchestration costs: the workflow against the same work in a serial loop.

On synthetic OME-Zarr plates of 96 and 384 wells (2 fields x 2 channels x 4 x 128 x 128
``uint16`` per well) the demo pipeline (torch normalize -> tophat, numpy project -> count)
runs twice, from scratch, each as a subprocess timed from start to end:

- the workflow: ``snakemake --cores N`` (``profiles/default``: jobs in threads);
- the serial loop: one Python process making the calls the rules make (each segment of each
  well, the well's tables, plate metadata, plate tables, heatmaps), one by one.

The ratio workflow / serial loop says what the orchestration costs (> 1) or what the
parallel jobs win (< 1). Both are timed in wall and in CPU time; on a machine other
processes load, the CPU ratio is the steadier one.

    python benchmarks/orchestration.py [--quick] [--source DIR] [--workdir DIR] [--out PATH]

``--quick`` runs only 96 wells at ``--cores 2``; ``--source`` measures another checkout.
Prints the issue's table (now, target) and writes JSON (default
``benchmarks/results/orchestration.json``).
"""

from __future__ import annotations

import argparse
import shutil
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

WELL_SHAPE = {"fields": 2, "channels": 2, "z": 4, "y": 128, "x": 128}


def serial_loop(workdir: Path) -> None:
    """The workflow's calls for every well and plate of ``workdir``'s config, one by one."""
    import os

    import yaml

    from hcs_steps.workflow import jobs, paths
    from hcs_steps.workflow.config import validate_config
    from hcs_steps.workflow.plan import build_plan
    from hcs_steps.workflow.sources import resolve_plates
    from hcs_steps.workflow.tables import TABLE_KINDS
    from hcs_steps.workflow.well_stages import (
        SegmentRun,
        TablesRun,
        run_segment_stage,
        run_tables_stage,
    )

    def log(*where: str) -> str:  # Snakemake creates a job's log folder before the job
        path = Path(paths.log(*where))
        path.parent.mkdir(parents=True, exist_ok=True)
        return str(path)

    os.chdir(workdir)
    config = yaml.safe_load(Path("config/config.yaml").read_text())
    validate_config(config, REPO / "workflow/schemas/config.schema.yaml")
    plan, plates = build_plan(config), resolve_plates(config)
    for name, plate in plates.items():
        for well in plate.wells:
            row, column = well[:-2], well[-2:]
            input_plate = plate.input_plate
            measurements = []
            for segment in plan.segments:
                outputs = {s: paths.step_plate(name, s) for s in segment.written}
                measurements.append(paths.segment_measurements(name, segment.name, row, column))
                run = SegmentRun(
                    spec=segment.spec(),
                    input_plate=input_plate,
                    output_plates=outputs,
                    measurements=measurements[-1],
                    log=log(name, segment.rule_name, well),
                    reading=plate.reading(segment.index == 0),
                )
                run_segment_stage(run, plate=name, well=well, plugins=config["plugins"])
                input_plate = outputs[segment.output_step]
            run_tables_stage(
                TablesRun(
                    inputs=measurements,
                    output=paths.well_tables(name, row, column),
                    log=log(name, "well_tables", well),
                )
            )
        for segment in plan.segments:
            for step in segment.written:
                jobs.plate_metadata(
                    plate, paths.step_plate(name, step), log(name, "plate_metadata", step)
                )
        well_tables = {
            kind: [
                paths.table_file(paths.well_tables(name, w[:-2], w[-2:]), kind) for w in plate.wells
            ]
            for kind in TABLE_KINDS
        }
        jobs.plate_tables(
            well_tables,
            {
                kind: (
                    paths.plate_table(name, kind, "parquet"),
                    paths.plate_table(name, kind, "csv"),
                )
                for kind in (*TABLE_KINDS, "summary")
            },
            log(name, "plate_tables", "plate"),
            layout=plate.layout_table(),
            exclude_flagged_fields=config["qc"]["exclude_flagged_fields"],
        )
        jobs.heatmaps(
            paths.plate_table(name, "summary", "parquet"),
            paths.heatmaps(name),
            plate,
            config["heatmap_layout"],
            log(name, "heatmaps", "plate"),
        )


def fresh(workdir: Path) -> Path:
    for name in ("results", "logs", ".snakemake"):
        shutil.rmtree(workdir / name, ignore_errors=True)
    return workdir


def compare(source: Path, root: Path, wells: int, cores: int, serial=None) -> dict:
    plate = synthetic(root / f"plate{wells}.zarr", wells, **WELL_SHAPE)
    loop_dir, flow_dir = root / f"loop{wells}", root / f"flow{wells}-{cores}"
    for workdir in (loop_dir, flow_dir):
        demo_pipeline_config(workdir, plate)
    if serial is None:
        command = [sys.executable, __file__, "--serial-loop", str(fresh(loop_dir))]
        serial = timed(command, source=source).as_dict()
    flow = timed(snakemake(source, fresh(flow_dir), "--cores", str(cores)), source=source)
    flow = flow.as_dict()
    return {
        "wells": wells,
        "cores": cores,
        "serial_loop": serial,
        "workflow": flow,
        "ratio_wall": round(flow["wall_s"] / serial["wall_s"], 3),
        "ratio_cpu": round(flow["cpu_s"] / serial["cpu_s"], 3),
    }


def row(result: dict, target: str) -> dict:
    return {
        "what": f"workflow / serial loop, {result['wells']} wells, `--cores {result['cores']}`",
        "now": f"{result['ratio_wall']:.2f} (CPU {result['ratio_cpu']:.2f}; "
        f"{result['workflow']['wall_s']:.0f} s vs {result['serial_loop']['wall_s']:.0f} s)",
        "target": target,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="96 wells at --cores 2 only")
    parser.add_argument("--source", type=Path, default=REPO, help="hcs-steps checkout to run")
    parser.add_argument(
        "--workdir", type=Path, default=Path(tempfile.gettempdir()) / "hcs-steps-bench-orch"
    )
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--serial-loop", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serial_loop:
        serial_loop(args.serial_loop)
        return
    source = args.source.resolve()
    results = [compare(source, args.workdir, 96, 2)]
    rows = [row(results[0], "<= 0.6 (use both cores)")]
    if not args.quick:
        results.append(compare(source, args.workdir, 384, 2))
        rows.append(row(results[-1], "<= 0.6, flat in plate size"))
        results.append(compare(source, args.workdir, 96, 1, serial=results[0]["serial_loop"]))
        rows.append(row(results[-1], "<= 1.15"))
    print_table(rows)
    out = write_results(
        "orchestration", rows, {"source": str(args.source), "measured": results}, args.out
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
