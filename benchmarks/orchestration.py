"""What Snakemake's orchestration costs: the workflow against the same work in a serial loop.

On synthetic OME-Zarr plates of 96 and 384 wells (2 fields x 2 channels x 4 x 128 x 128
``uint16`` per well) the demo pipeline (torch normalize -> tophat, numpy project -> count)
runs twice, from scratch, each as a subprocess timed from start to end:

- the workflow: ``snakemake --cores N`` (``profiles/default``: jobs in threads);
- the serial loop: one Python process making the calls the rules make (each segment of each
  well, the well's tables, plate metadata, plate tables, heatmaps, the run record), one by
  one;
- with ``--cores N`` above 1, also N serial loops at once, each on every N-th well, then the
  plate-level calls: the most N cores can give on this machine with no scheduler at all,
  the floor under the workflow's ratio.

The ratio workflow / serial loop says what the orchestration costs (> 1) or what the
parallel jobs win (< 1). Both are timed in wall and in CPU time; on a machine other
processes load, the CPU ratio is the steadier one.

    python benchmarks/orchestration.py [--quick] [--repeat N] [--source DIR] [--workdir DIR]
                                       [--out PATH]

``--quick`` runs only 96 wells at ``--cores 2``; ``--repeat N`` makes N rounds of each
comparison and prints the median ratio and the range (the serial loop alone varied by
30 % between runs on the 2-core machine); ``--source`` measures another checkout.
Prints the issue's table (now, target) and writes JSON (default
``benchmarks/results/orchestration.json``).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
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


def serial_loop(
    workdir: Path, share: tuple[int, int] | None = (0, 1), plate_level: bool = True
) -> None:
    """The workflow's calls for the wells and plates of ``workdir``'s config, one by one.

    ``share`` ``(k, n)``: only every n-th well from the k-th (a part of
    :func:`parallel_loops`), None: no well; ``plate_level``: the plate-level calls too."""
    import os

    import yaml

    from hcs_steps.workflow import jobs, paths
    from hcs_steps.workflow.config import validate_config
    from hcs_steps.workflow.plan import build_plan
    from hcs_steps.workflow.run_record import RECORD_FILES, run_id, segment_plates
    from hcs_steps.workflow.sources import resolve_plates
    from hcs_steps.workflow.tables import TABLE_KINDS
    from hcs_steps.workflow.versions import versions_table
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
        for well in plate.wells[slice(share[0], None, share[1])] if share else ():
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
        if not plate_level:
            continue
        record_segments = segment_plates(plan.segments, name, plate.input_plate)
        for segment in record_segments:
            for step, step_plate in segment.written.items():
                jobs.plate_metadata(plate, step_plate, log(name, "plate_metadata", step))
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
        versions = versions_table()
        record = run_id(config, versions)
        jobs.run_record(
            config=config,
            versions=versions,
            plate=name,
            wells=plate.wells,
            segments=record_segments,
            ingested=None,
            outputs={
                kind: paths.run_record(name, record, file) for kind, file in RECORD_FILES.items()
            },
            log=log(name, "run_record", record),
        )


def parallel_loops(workdir: Path, processes: int) -> None:
    """The serial loop's well calls shared by ``processes`` loops at once (every n-th well
    each), then its plate-level calls: what ``--cores n`` could take at best, with no
    scheduler and no job overhead, on this machine (its cores, caches and memory bus)."""
    import subprocess

    loops = [
        subprocess.Popen(
            [sys.executable, __file__, "--loop-share", str(workdir), str(k), str(processes)]
        )
        for k in range(processes)
    ]
    # This process imports and plans while the loops run, as Snakemake's process does
    # beside its workers.
    serial_loop(workdir, share=None, plate_level=False)
    if any(loop.wait() != 0 for loop in loops):
        raise RuntimeError(f"a share of the serial loop failed in {workdir}")
    serial_loop(workdir, share=None)


def fresh(workdir: Path) -> Path:
    for name in ("results", "logs", ".snakemake"):
        shutil.rmtree(workdir / name, ignore_errors=True)
    return workdir


def compare(source: Path, root: Path, wells: int, cores: int, repeat: int, serial=()) -> dict:
    """``repeat`` rounds of the serial loop (unless ``serial`` gives its timings), with more
    than one core the parallel loops, and the workflow, one after another in each round:
    a round's ratios compare runs made under the same load."""
    plate = synthetic(root / f"plate{wells}.zarr", wells, **WELL_SHAPE)
    loop_dir, flow_dir = root / f"loop{wells}", root / f"flow{wells}-{cores}"
    shared_dir = root / f"loops{wells}-{cores}"
    for workdir in (loop_dir, flow_dir, shared_dir):
        demo_pipeline_config(workdir, plate)
    rounds = []
    for index in range(repeat):
        if index < len(serial):
            loop = serial[index]
        else:
            command = [sys.executable, __file__, "--serial-loop", str(fresh(loop_dir))]
            loop = timed(command, source=source).as_dict()
        measured = {"serial_loop": loop}
        if cores > 1:
            command = [sys.executable, __file__, "--parallel-loops", str(fresh(shared_dir))]
            measured["parallel_loops"] = timed([*command, str(cores)], source=source).as_dict()
        command = snakemake(source, fresh(flow_dir), "--cores", str(cores))
        measured["workflow"] = timed(command, source=source).as_dict()
        rounds.append(measured)
    return {"wells": wells, "cores": cores, "rounds": rounds}


def ratios(result: dict, run: str, unit: str) -> list[float]:
    return [r[run][unit] / r["serial_loop"][unit] for r in result["rounds"] if run in r]


def spread(values: list[float], digits: int = 2, unit: str = "") -> str:
    """The median, and the range when there are several values."""
    middle = f"{statistics.median(values):.{digits}f}{unit}"
    if len(values) == 1:
        return middle
    return f"{middle} ({min(values):.{digits}f}-{max(values):.{digits}f}{unit})"


def seconds(result: dict, run: str) -> str:
    return spread([r[run]["wall_s"] for r in result["rounds"]], 0, " s")


def row(result: dict, target: str) -> dict:
    rounds = len(result["rounds"])
    return {
        "what": f"workflow / serial loop, {result['wells']} wells, `--cores {result['cores']}`",
        "now": f"{spread(ratios(result, 'workflow', 'wall_s'))}; CPU "
        f"{spread(ratios(result, 'workflow', 'cpu_s'))}; {seconds(result, 'workflow')} vs "
        f"{seconds(result, 'serial_loop')}; {rounds} round{'s' * (rounds > 1)}",
        "target": target,
    }


def ceiling_row(result: dict) -> dict:
    """What the machine allows: the serial loop's wells shared by ``cores`` loops at once."""
    return {
        "what": f"{result['cores']} serial loops at once / serial loop, {result['wells']} wells "
        "(no scheduler: the floor under the row above)",
        "now": f"{spread(ratios(result, 'parallel_loops', 'wall_s'))}; CPU "
        f"{spread(ratios(result, 'parallel_loops', 'cpu_s'))}; "
        f"{seconds(result, 'parallel_loops')}",
        "target": "-",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="96 wells at --cores 2 only")
    parser.add_argument("--source", type=Path, default=REPO, help="hcs-steps checkout to run")
    parser.add_argument(
        "--workdir", type=Path, default=Path(tempfile.gettempdir()) / "hcs-steps-bench-orch"
    )
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument(
        "--repeat", type=int, default=1, help="rounds per comparison (medians are printed)"
    )
    parser.add_argument("--serial-loop", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--parallel-loops", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--loop-share", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serial_loop:
        serial_loop(args.serial_loop)
        return
    if args.parallel_loops:
        parallel_loops(Path(args.parallel_loops[0]), int(args.parallel_loops[1]))
        return
    if args.loop_share:
        workdir, first, count = args.loop_share
        serial_loop(Path(workdir), share=(int(first), int(count)), plate_level=False)
        return
    source = args.source.resolve()
    results = [compare(source, args.workdir, 96, 2, args.repeat)]
    rows = [row(results[0], "<= 0.6 (use both cores)"), ceiling_row(results[0])]
    if not args.quick:
        results.append(compare(source, args.workdir, 384, 2, args.repeat))
        rows += [row(results[-1], "<= 0.6, flat in plate size"), ceiling_row(results[-1])]
        loops = [r["serial_loop"] for r in results[0]["rounds"]]
        results.append(compare(source, args.workdir, 96, 1, args.repeat, serial=loops))
        rows.append(row(results[-1], "<= 1.15"))
    print_table(rows)
    out = write_results(
        "orchestration", rows, {"source": str(args.source), "measured": results}, args.out
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
