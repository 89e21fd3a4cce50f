"""A well's stages as plain functions of plain arguments: a segment, and the well's tables.

The rule bodies call these, locally (a segment rule; the well's last segment also writes
the well's tables) and on a cluster (:mod:`hcs_steps.workflow.well_chain`, every stage of a
well in one job). Their arguments are frozen dataclasses of strings, lists and dicts, so a
call can also be sent to another process.
"""

from __future__ import annotations

from dataclasses import dataclass

from hcs_steps.plate.atomic import directory_written
from hcs_steps.workflow import jobs
from hcs_steps.workflow.paths import table_file
from hcs_steps.workflow.run_segment import run_segment
from hcs_steps.workflow.tables import TABLE_KINDS


@dataclass(frozen=True)
class SegmentRun:
    """One segment of a well: the arguments its rule gives :func:`run_segment`."""

    spec: dict
    input_plate: str
    output_plates: dict[str, str]
    measurements: str  # the directory of its measurement tables (paths.table_file)
    log: str
    reading: dict  # how it reads its wells: channel names, missing chunks, bad wells
    illumination: str | list = ()  # the flat-field estimate its first step reads, if any


@dataclass(frozen=True)
class TablesRun:
    """The well's tables: every segment's measurement directory, merged kind by kind into
    the directory ``output``."""

    inputs: list[str]
    output: str
    log: str


def run_segment_stage(
    segment: SegmentRun,
    *,
    plate: str,
    well: str,
    plugins: list[str] = (),
    provenance: dict | None = None,
    threads: int = 1,
) -> None:
    """Run one segment on one well (:func:`run_segment`), writing its log; its measurement
    tables appear together, once the segment has written its wells."""
    with directory_written(segment.measurements) as measurements:
        run_segment(
            segment.spec,
            plate=plate,
            well=well,
            input_plate=segment.input_plate,
            output_plates=segment.output_plates,
            measurements=tables_in(measurements),
            **segment.reading,
            log=segment.log,
            plugins=plugins,
            provenance=provenance,
            illumination=segment.illumination,
            threads=threads,
        )


def run_tables_stage(tables: TablesRun) -> None:
    """Merge the well's measurement tables, kind by kind, writing its log; the well's
    tables appear together."""
    with directory_written(tables.output) as output:
        jobs.well_tables(tables_by_kind(tables.inputs), tables_in(output), tables.log)


def tables_in(directory) -> dict[str, str]:
    """``{kind: path}``: the table of each kind in a directory of tables."""
    return {kind: table_file(str(directory), kind) for kind in TABLE_KINDS}


def tables_by_kind(directories) -> dict[str, list[str]]:
    """``{kind: [path, ...]}``: the table of each kind in each directory of tables."""
    return {kind: [table_file(str(d), kind) for d in directories] for kind in TABLE_KINDS}


def run_well_segment(
    segment: SegmentRun,
    *,
    plate: str,
    well: str,
    tables: TablesRun | None = None,
    plugins: list[str] = (),
    provenance: dict | None = None,
    threads: int = 1,
) -> None:
    """A segment rule's job: the segment, then, for the well's last segment (``tables``
    given), the well's tables, which then read this segment's measurements as written.

    The well's tables are part of its last segment's job, not a job of their own: a job
    costs Snakemake more to plan (and to schedule) than merging a well's tables costs.
    """
    run_segment_stage(
        segment, plate=plate, well=well, plugins=plugins, provenance=provenance, threads=threads
    )
    if tables is not None:
        run_tables_stage(tables)
