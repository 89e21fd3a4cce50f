"""Move results between the plain run's place and the sweep's chains after a promotion.

Where a segment's result lives follows from its digest (:mod:`hcs_steps.workflow.sweep`):
under ``results/<plate>/steps/`` when it is the plain pipeline's, else under
``sweep/chains/<digest>/``. ``hcs-steps sweep pick`` changes the plain pipeline, so for
each segment whose digest changes, the plain run's wells move into the chain of their old
digest (combinations with the old values still find them) and the promoted chain's wells
move into the plain run's place: nothing is recomputed for the swept wells.

Snakemake keeps, per output, the parameters and input paths it was made with. Those of a
plain output that now holds the promoted result describe the old one; a chain result whose
input moved, and a combination's well tables whose measurements moved, list old input
paths. Each would make Snakemake redo an unchanged result, so ``snakemake --touch`` on
exactly those outputs records them anew (dropping the records instead would leave the plain
outputs without the parameters that must trigger a rerun when they change next). This is
right only if every sweep result is up to date, so a promotion first checks that
``snakemake -n sweep`` has nothing to do. The plain run's well tables built from moved
measurements change content: they are merged again from the plain place's measurements
where every segment's are there (a well of the sweep), else removed. They are outputs of
the well's last segment job, so a removed table reruns that segment.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from hcs_steps.plate import parse_well
from hcs_steps.workflow import paths
from hcs_steps.workflow.plan import Plan, Segment
from hcs_steps.workflow.sweep import Sweep
from hcs_steps.workflow.well_stages import TablesRun, run_tables_stage


@dataclass(frozen=True)
class Move:
    source: Path
    target: Path
    promoted: bool  # into the plain run's place (its Snakemake record is stale)


def places(plate: str, chain: str | None, segment: Segment, root: Path) -> dict[str, Path]:
    """The folders of a segment's results: each written step's plate and the measurements.

    ``chain`` None: the plain run's place; else the chain ``sweep/chains/<chain>``.
    """
    if chain is None:
        found = {step: paths.step_plate(plate, step) for step in segment.written}
        found["measurements"] = paths.measurements_dir(plate, segment.name)
    else:
        found = {step: paths.chain_step_plate(plate, chain, step) for step in segment.written}
        found["measurements"] = paths.chain_measurements_dir(plate, chain, segment.name)
    return {kind: root / folder for kind, folder in found.items()}


def contents(folders: dict[str, Path]) -> dict[tuple[str, str], Path]:
    """What the folders of :func:`places` hold: well directories (of images, and of
    measurement tables)."""
    found = {}
    for kind, folder in folders.items():
        if not folder.is_dir():
            continue
        if kind == "measurements":
            found.update(
                {
                    (kind, well.name): well
                    for well in folder.iterdir()
                    if well.is_dir() and not well.name.startswith(".")
                }
            )
            continue
        for well in folder.glob("*/*"):
            if well.is_dir() and not (well.name + well.parent.name).startswith("."):
                found[(kind, f"{well.parent.name}/{well.name}")] = well
    return found


def plan_moves(plates, plan: Plan, before, after, root: Path = Path(".")) -> list[Move]:
    """The moves that re-file results when the plain digests go from ``before`` to ``after``.

    For each changed segment: the plain run's results into the chain of ``before``
    (unless that chain has them already), then the chain of ``after`` into the plain place.
    """
    moves = []
    for plate in plates:
        for segment in plan.segments:
            old, new = before[segment.index], after[segment.index]
            if old == new:
                continue
            plain, kept = places(plate, None, segment, root), places(plate, old, segment, root)
            kept_contents = contents(kept)
            moves += [
                Move(source, kept[kind] / name, promoted=False)
                for (kind, name), source in contents(plain).items()
                if (kind, name) not in kept_contents
            ]
            promoted = contents(places(plate, new, segment, root))
            moves += [
                Move(source, plain[kind] / name, promoted=True)
                for (kind, name), source in promoted.items()
            ]
    return moves


def rewired_records(
    plates, plan: Plan, sweep: Sweep, before, after, root: Path = Path(".")
) -> list[Path]:
    """Outputs whose results stay but whose inputs move: their Snakemake records are stale.

    A chain result whose previous segment moves (into or out of the plain place), and the
    well tables of a combination whose results move.
    """
    changed = {i for i, (old, new) in enumerate(zip(before, after, strict=True)) if old != new}
    stale = []
    for plate in plates:
        for combination in sweep.combinations:
            for segment in plan.segments[1:]:
                chain, previous = combination.chains[segment.index], segment.index - 1
                if chain != after[segment.index] and previous in changed:
                    if combination.chains[previous] in (before[previous], after[previous]):
                        stale += contents(places(plate, chain, segment, root)).values()
            now_plain = tuple(c == a for c, a in zip(combination.chains, after, strict=True))
            if now_plain != combination.plain:
                for row, column in (parse_well(w) for w in sweep.wells[plate]):
                    tables = root / paths.sweep_well_tables(plate, combination.name, row, column)
                    if tables.is_dir():
                        stale.append(tables)
    return list(dict.fromkeys(stale))


def derived_wells(moves: list[Move], root: Path = Path(".")) -> list[tuple[str, str]]:
    """``(plate, well)`` of the plain run's well tables built from measurements that a
    move replaces."""
    wells = set()
    for move in moves:
        for end in (move.source, move.target):
            if end.parent.parent.name == "measurements":  # measurements/<segment>/<well>
                plate = end.relative_to(root).parts[1]  # results/<plate>/...
                wells.add((plate, end.name))
    return sorted(wells)


def plain_tables_run(plan: Plan, plate: str, well: str, root: Path = Path(".")) -> TablesRun:
    """The well's tables as its last segment job merges them, from the plain place."""
    row, column = parse_well(well)
    return TablesRun(
        inputs=[
            str(root / paths.segment_measurements(plate, segment.name, row, column))
            for segment in plan.segments
        ],
        output=str(root / paths.well_tables(plate, row, column)),
        log=str(root / paths.log(plate, "well_tables", well)),
    )


def refresh_derived_tables(moves: list[Move], plan: Plan, root: Path = Path(".")) -> list[Path]:
    """Merge again the plain well tables that moved measurements change, where all of the
    well's measurements are in the plain place; remove the others. Returns the merged
    tables (their Snakemake records are stale, like a promoted result's)."""
    merged = []
    for plate, well in derived_wells(moves, root):
        tables = plain_tables_run(plan, plate, well, root)
        if all(Path(measurements).is_dir() for measurements in tables.inputs):
            Path(tables.log).parent.mkdir(parents=True, exist_ok=True)
            run_tables_stage(tables)
            merged.append(Path(tables.output))
            continue
        shutil.rmtree(tables.output, ignore_errors=True)
    return merged


def apply_moves(moves: list[Move]) -> None:
    """Rename each source onto its target, in order (a directory target is replaced)."""
    for move in moves:
        move.target.parent.mkdir(parents=True, exist_ok=True)
        if move.target.is_dir():
            shutil.rmtree(move.target)
        os.replace(move.source, move.target)


def snakemake(configfile: str, *args: str, root: Path = Path(".")):
    """``python -m snakemake`` with this checkout's Snakefile and ``configfile`` in ``root``."""
    from hcs_steps.workflow.config import schema_path

    snakefile = schema_path().parents[2] / "Snakefile"
    command = [sys.executable, "-m", "snakemake", "-s", str(snakefile), "--directory", str(root)]
    command += ["--configfile", str(Path(configfile).resolve()), "--cores", "1", *args]
    return subprocess.run(command, capture_output=True, text=True)


def pending_sweep_jobs(configfile: str, root: Path = Path(".")) -> str:
    """The job stats of ``snakemake -n sweep``; empty when the sweep is complete."""
    result = snakemake(configfile, "sweep", "-n", "--quiet", "rules", root=root)
    if result.returncode != 0:
        raise RuntimeError(f"snakemake -n sweep failed:\n{result.stderr[-2000:]}")
    output = result.stdout + result.stderr
    return output.split("Job stats:")[1].strip() if "Job stats:" in output else ""


def record_moved(outputs: list[Path], configfile: str, root: Path = Path(".")) -> None:
    """Have Snakemake record the current parameters and inputs of ``outputs``.

    ``snakemake --touch`` marks the jobs of stale records done without running them and
    records them anew; only outputs whose content is known right are passed. So is the
    ``sweep`` target: touching a directory of tables makes it newer than what was merged
    from it (Snakemake compares a directory by its time, where a file's unchanged checksum
    would keep its consumers up to date), and the sweep was complete before the moves
    (:func:`pending_sweep_jobs`), which kept every sweep result's content.
    """
    if not outputs:
        return
    # a well is the output of its rule through its metadata file (paths.well_metadata); a
    # directory of tables is an output itself
    targets = [
        paths.well_metadata(str(relative)) if (path / "zarr.json").is_file() else str(relative)
        for path, relative in ((path, path.relative_to(root)) for path in outputs)
    ]
    result = snakemake(configfile, "--touch", *targets, "sweep", root=root)
    if result.returncode != 0:
        raise RuntimeError(
            "snakemake --touch failed, so Snakemake will recompute the promoted results:\n"
            f"{result.stderr[-2000:]}"
        )
