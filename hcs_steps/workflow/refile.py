"""Move results between the plain run's place and the sweep's chains after a promotion.

Where a segment's result lives follows from its digest (:mod:`hcs_steps.workflow.sweep`):
under ``results/<plate>/steps/`` when it is the plain pipeline's, else under
``sweep/chains/<digest>/``. ``hcs-steps sweep pick`` changes the plain pipeline, so for
each segment whose digest changes, the plain run's wells move into the chain of their old
digest (combinations with the old values still find them) and the promoted chain's wells
move into the plain run's place: nothing is recomputed for the swept wells.

Snakemake keeps, per output, the parameters it was made with; those of a plain output
that now holds the promoted result describe the old one and would make Snakemake redo it.
``snakemake --cleanup-metadata`` drops those records; without a record Snakemake judges an
output by its time stamps alone, and a moved result is newer than its inputs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from hcs_steps.workflow import paths
from hcs_steps.workflow.plan import Plan, Segment


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
    """What the folders of :func:`places` hold: well directories and measurement tables."""
    found = {}
    for kind, folder in folders.items():
        if not folder.is_dir():
            continue
        if kind == "measurements":
            found.update({(kind, table.name): table for table in folder.glob("*.parquet")})
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


def apply_moves(moves: list[Move]) -> None:
    """Rename each source onto its target, in order (a directory target is replaced)."""
    for move in moves:
        move.target.parent.mkdir(parents=True, exist_ok=True)
        if move.target.is_dir():
            shutil.rmtree(move.target)
        os.replace(move.source, move.target)


def forget_parameters(outputs: list[Path], configfile: str, root: Path = Path(".")) -> None:
    """Drop Snakemake's records of ``outputs`` (``snakemake --cleanup-metadata``)."""
    if not outputs:
        return
    from hcs_steps.workflow.config import schema_path

    snakefile = schema_path().parents[2] / "Snakefile"
    command = [sys.executable, "-m", "snakemake", "-s", str(snakefile), "--directory", str(root)]
    command += ["--configfile", str(Path(configfile).resolve()), "--cleanup-metadata"]
    command += [str(path.relative_to(root)) for path in outputs]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(
            "snakemake --cleanup-metadata failed, so Snakemake will recompute the promoted "
            f"results:\n{result.stderr[-2000:]}"
        )
