"""A well's whole chain in one job: ingest (when the plate is ingested), every planned
segment, then the well's tables.

The body of the ``well_chain`` rule, which replaces the per-well rules on a cluster: there
each job costs Snakemake starts, and a rule of its own for every stage made a well pay for
five Python starts before any image work (``docs/workflow.md``, "What a well costs on
SLURM"). Each stage is the function the local rules run (:mod:`hcs_steps.workflow.well_stages`),
writing the same outputs and the same logs, so a cluster run writes what a local run writes.
"""

from __future__ import annotations

from functools import partial

from hcs_steps.workflow import jobs
from hcs_steps.workflow.sources import PlateInput
from hcs_steps.workflow.well_stages import (
    SegmentRun,
    TablesRun,
    run_segment_stage,
    run_tables_stage,
)


class WellChainError(RuntimeError):
    """A stage of a well's chain failed; the message names the well, stage and its log."""


def run_well_chain(
    plate: PlateInput,
    well: str,
    *,
    ingest_log: str | None,
    segments: list[SegmentRun],
    tables: TablesRun,
    plugins: list[str] = (),
    provenance: dict | None = None,
    threads: int = 1,
) -> None:
    """Run a well's stages in order, each as its own rule would (same outputs, same logs).

    ``ingest_log`` is None for a plate that is read where it is (not ingested). ``threads``
    is the cores the well's segments may use (a batch shares its job's cores out).
    """
    stages = []
    if ingest_log is not None:
        stages.append(
            ("ingest", ingest_log, partial(jobs.ingest, plate, well, plate.input_plate, ingest_log))
        )
    for segment in segments:
        run = partial(
            run_segment_stage,
            segment,
            plate=plate.name,
            well=well,
            plugins=plugins,
            provenance=provenance,
            threads=threads,
        )
        stages.append((f"segment {segment.spec['segment']}", segment.log, run))
    stages.append(("tables", tables.log, partial(run_tables_stage, tables)))
    for name, log, run in stages:
        try:
            run()
        except Exception as exc:
            raise WellChainError(
                f"plate {plate.name} well {well}: {name} failed ({type(exc).__name__}: {exc}); "
                f"its log: {log}"
            ) from exc
