"""What a segment does with the well it reads when that well's data is bad.

A :class:`~hcs_steps.plate.PlateDataError` while the input well is opened or read is bad
input (:class:`BadInput`), unlike a failing step or write: with ``on_bad_well: skip`` the
well is then published as skipped (:func:`skip_well`, :mod:`hcs_steps.plate.skipped`).
Chunks read as fill values (``missing_chunks: fill``) are logged and recorded in
``field_qc`` by :func:`input_reader`.
"""

from __future__ import annotations

import pandas as pd

from hcs_steps.workflow.tables import TABLE_KINDS, input_record, write_table


class BadInput(Exception):
    """The well a segment reads has bad data (a :class:`PlateDataError` while reading it),
    as opposed to a step or a write failing."""


def input_reader(source, channel_names, missing_chunks: str, tables, logger):
    """``source.read`` that marks what reading refuses as bad input and, where missing
    chunks are read as fill values, says so in the log and in ``field_qc``."""
    from hcs_steps.plate import PlateDataError

    def read(field: int, channel: int):
        try:
            stack = source.read(field, channel)
        except PlateDataError as error:
            raise BadInput(str(error)) from error
        if missing_chunks == "fill":
            missing = source.missing_chunks_of(field, channel)
            if missing:
                reason = (
                    f"{len(missing)} missing chunk(s) read as the fill value: {', '.join(missing)}"
                )
                logger.warning("field %d, channel %s: %s", field, channel_names[channel], reason)
                tables["field_qc"].append(input_record(reason, field, channel_names[channel]))
        return stack

    return read


def skip_well(spec, plate, well, *, output_plates, measurements, reason, record, logger):
    """Publish the skipped well's outputs: a record in each well directory, empty tables
    (and, where this segment found the fault, the reason in ``field_qc``)."""
    from hcs_steps.plate import plate_well_path
    from hcs_steps.plate.skipped import write_skipped_well

    logger.warning("plate %s well %s skipped (on_bad_well: skip): %s", plate, well, reason)
    for name in spec["written"]:
        write_skipped_well(
            plate_well_path(output_plates[name], well), plate=plate, well=well, reason=reason
        )
    tables = {kind: [] for kind in TABLE_KINDS}
    if record:
        tables["field_qc"].append(input_record(f"well skipped: {reason}"))
    for kind, path in measurements.items():
        frame = pd.concat(tables[kind]) if tables[kind] else None
        write_table(frame, kind, path, plate=plate, well=well)
