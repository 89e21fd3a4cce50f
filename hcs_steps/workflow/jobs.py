"""The bodies of the non-step rules; each writes its own log (jobs may share a process)."""

from __future__ import annotations

from hcs_steps.workflow import tables
from hcs_steps.workflow.joblog import job_logger
from hcs_steps.workflow.sources import PlateInput


def ingest(plate: PlateInput, well: str, out_plate: str, log: str) -> None:
    """Copy one well of an instrument folder (or the demo) into the ingested OME-Zarr plate;
    with ``on_bad_well: skip`` a well whose files cannot be read is published as skipped."""
    from hcs_steps.plate import PlateDataError, plate_well_path
    from hcs_steps.plate.skipped import write_skipped_well
    from hcs_steps.plate.sources import ingest_well

    with job_logger(log) as logger:
        try:
            path = ingest_well(plate.open(), well, out_plate)
        except PlateDataError as error:
            if plate.on_bad_well != "skip":
                raise
            logger.warning(
                "plate %s well %s skipped (on_bad_well: skip): %s", plate.name, well, error
            )
            path = plate_well_path(out_plate, well)
            write_skipped_well(path, plate=plate.name, well=well, reason=str(error))
            return
        logger.info("ingested %s well %s (%s) into %s", plate.name, well, plate.format, path)


def plate_metadata(plate: PlateInput, plate_path: str, log: str) -> None:
    """Write the OME-NGFF plate metadata once all of its wells exist."""
    from hcs_steps.plate import plate_well_path, write_plate_metadata
    from hcs_steps.plate.skipped import skipped_reason

    with job_logger(log) as logger:
        # A skipped well has a directory (Snakemake's output) but no images: not listed.
        wells = [w for w in plate.wells if skipped_reason(plate_well_path(plate_path, w)) is None]
        extra = {"source_format": plate.format}
        if plate_path == plate.input_plate and plate.ingest:
            # what the source knows about the plate, e.g. the demo's true nuclei counts
            attributes = dict(plate.open().attributes)
            if "known_counts" in attributes:
                attributes["known_counts"] = {
                    well: attributes["known_counts"][well] for well in wells
                }
            extra.update(attributes)
        write_plate_metadata(
            plate_path,
            name=plate.name,
            wells=wells,
            channel_names=list(plate.channel_names),
            extra=extra,
        )
        logger.info(
            "wrote plate metadata of %s (%d wells, %d skipped)",
            plate_path,
            len(wells),
            len(plate.wells) - len(wells),
        )


def well_tables(inputs: dict[str, list[str]], outputs: dict[str, str], log: str) -> None:
    """Merge a well's per-segment measurement tables, kind by kind, into a directory being
    written (``outputs``: paths in it; see :func:`hcs_steps.workflow.tables.write_table`)."""
    with job_logger(log) as logger:
        for kind, path in outputs.items():
            frame = tables.read_tables(inputs[kind], kind)
            frame.to_parquet(path, index=False)
            logger.info("%s: %d rows from %d segment tables", kind, len(frame), len(inputs[kind]))


def plate_tables(
    inputs: dict[str, list[str]],
    outputs: dict[str, tuple[str, str]],
    log: str,
    layout=None,
    exclude_flagged_fields: bool = False,
) -> None:
    """Merge the wells' tables into plate tables (Parquet and CSV) and the well summary.

    ``outputs`` maps each table kind of ``inputs`` (``counts``, ``objects``, ``features``,
    ``feature_summary``) and ``summary`` to ``(parquet, csv)`` paths. With a ``layout``
    (:func:`hcs_steps.screen.layout.read_layout`) every table gains its columns, and the
    summary the values normalised to the controls.
    """
    with job_logger(log) as logger:
        merged = {kind: tables.read_tables(paths, kind) for kind, paths in inputs.items()}
        measured = {"counts": merged["counts"], "objects": merged["objects"]}
        if exclude_flagged_fields and "field_qc" in merged:
            measured = tables.without_flagged_fields(measured, merged["field_qc"])
            logger.info(
                "left out of the summary: %d flagged field(s)",
                int(merged["field_qc"]["flagged"].sum()),
            )
        merged["summary"] = tables.well_summary(measured["counts"], measured["objects"])
        if layout is not None:
            from hcs_steps.screen.normalise import normalise

            for kind in inputs:
                merged[kind] = merged[kind].merge(layout, on="well", how="left")
            merged["summary"] = normalise(merged["summary"], layout)
            logger.info("layout: %s", layout["role"].value_counts().to_dict())
        for kind, (parquet, csv) in outputs.items():
            tables.write_outputs(merged[kind], parquet=parquet, csv=csv)
            logger.info("%s: %d rows", kind, len(merged[kind]))


def plate_qc(
    summary: str, settings: dict, outputs: dict[str, tuple[str, str]], plots: dict, log: str
) -> None:
    """Plate QC (Z', SSMD) and dose-response fits from a normalised summary, with plots.

    ``outputs`` maps ``qc`` and ``dose_response`` to ``(parquet, csv)`` paths; ``plots`` has
    the QC figure's path (``qc``) and the dose-response plots' folder (``dose_response``).
    """
    import pandas as pd

    from hcs_steps.screen.dose import dose_response
    from hcs_steps.screen.plots import dose_plots, qc_plot
    from hcs_steps.screen.qc import plate_qc as compute_qc

    with job_logger(log) as logger:
        normalised = pd.read_parquet(summary)
        results = {
            "qc": compute_qc(normalised, settings["z_prime_min"]),
            "dose_response": dose_response(normalised),
        }
        for kind, (parquet, csv) in outputs.items():
            tables.write_outputs(results[kind], parquet=parquet, csv=csv)
        passed = qc_plot(results["qc"], settings["measurement"], plots["qc"])
        curves = dose_plots(normalised, results["dose_response"], plots["dose_response"])
        logger.info(
            "QC on %s (Z' >= %s): %s; %d dose-response fits, %d plots",
            settings["measurement"],
            settings["z_prime_min"],
            "pass" if passed else "fail or not assessed",
            len(results["dose_response"]),
            len(curves),
        )


def screen_summary(
    summaries: dict[str, str], plates: dict[str, PlateInput], outputs, out_dir: str, log: str
) -> None:
    """Several plates: every plate's summary in one table (and QC tables in another, where
    the plates have layouts), and each measurement's plates side by side."""
    import pandas as pd

    from hcs_steps.workflow.heatmap import write_screen_heatmaps

    with job_logger(log) as logger:
        frames = [pd.read_parquet(path) for path in summaries.values()]
        summary = pd.concat([f for f in frames if len(f)], ignore_index=True)
        tables.write_outputs(summary, parquet=outputs["summary"][0], csv=outputs["summary"][1])
        wells = {name: list(plate.plate_wells) for name, plate in plates.items()}
        written = write_screen_heatmaps(summary, wells, out_dir)
        logger.info(
            "screen of %d plates: %d rows, %d heatmaps", len(plates), len(summary), len(written)
        )


def heatmaps(summary: str, out_dir: str, plate: PlateInput, layout, log: str) -> None:
    """One PNG per measurement of the plate's well summary."""
    import pandas as pd

    from hcs_steps.workflow.heatmap import write_heatmaps

    with job_logger(log) as logger:
        written = write_heatmaps(
            pd.read_parquet(summary), out_dir, plate_wells=plate.plate_wells, layout=layout
        )
        logger.info("wrote %d heatmaps to %s", len(written), out_dir)


def run_record(
    config: dict, versions, plate: str, wells, segments, ingested, outputs: dict, log: str
) -> None:
    """A plate's provenance record of this run (see :mod:`hcs_steps.workflow.run_record`):
    the config and the versions (``versions_table()``) its run id was derived from."""
    from hcs_steps.workflow import run_record

    with job_logger(log) as logger:
        steps = run_record.steps_table(plate, list(wells), segments, ingested)
        run_record.write_run_record(config, versions, steps, outputs)
        logger.info(
            "%s: %d steps of %d wells recorded in %s", plate, len(steps), len(wells), outputs
        )
