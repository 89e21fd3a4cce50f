"""Measurement tables: per well, merged per plate, and summarised per well for heatmaps.

Every row carries where it came from: ``plate``, ``well``, ``field``, ``channel`` and the
pipeline ``step`` that measured it, followed by the step's own columns (``counts``:
``plane, count``; ``objects``: ``plane, label, y, x, area, mean_intensity``). The feature
tables of ``measure_objects`` are wide: ``features`` (``plane, label``) and
``feature_summary`` (``plane``) are followed by one column per feature, named by the step
(``nuclei_area``, ``nuclei_mean_DAPI``); their ``channel`` is the one the objects were found
in.

What went wrong with a well's input is recorded in ``field_qc`` too, flagged, with the step
:data:`INPUT_STEP`: a well skipped for bad data (``on_bad_well: skip``; it then has no
other rows, so it can never read as a count of zero) and chunks read as fill values
(``missing_chunks: fill``). The report shows that table, and ``qc.exclude_flagged_fields``
leaves such fields out of the summary like any flagged field.
"""

from __future__ import annotations

import pandas as pd

from hcs_steps.plate.atomic import write_with

MEASUREMENT_COLUMNS = {
    "counts": ["plane", "count"],
    "objects": ["plane", "label", "y", "x", "area", "mean_intensity"],
    "field_qc": ["focus_score", "saturated_fraction", "flagged", "flag_reason"],
}
FEATURE_COLUMNS = {"features": ["plane", "label"], "feature_summary": ["plane"]}
TABLE_KINDS = (*MEASUREMENT_COLUMNS, *FEATURE_COLUMNS)
KEY_COLUMNS = ["plate", "well", "field", "channel", "step"]
SUMMARY_COLUMNS = ["plate", "well", "step", "channel", "measurement", "value"]
INPUT_STEP = "(input)"  # not a pipeline name (those start with a letter)


def empty_table(kind: str) -> pd.DataFrame:
    """A zero-row table with the columns of ``kind``.

    Examples
    --------
    >>> list(empty_table("counts").columns)
    ['plate', 'well', 'field', 'channel', 'step', 'plane', 'count']
    """
    text = ("plate", "well", "channel", "step", "flag_reason")
    return pd.DataFrame(
        {
            column: pd.Series(dtype="object" if column in text else "float64")
            for column in KEY_COLUMNS + _fixed_columns(kind)
        }
    )


def input_record(reason: str, field: int | None = None, channel: str = "") -> pd.DataFrame:
    """A flagged ``field_qc`` row saying what was wrong with a well's input (see above).

    ``field`` is ``None`` for the whole well (a skipped well).

    Examples
    --------
    >>> row = input_record("well skipped: chunk c/0/0/0/0 is missing")
    >>> row[["field", "step", "flagged"]].values.tolist()
    [[nan, '(input)', True]]
    """
    return pd.DataFrame(
        {
            "field": [float("nan") if field is None else field],
            "channel": [channel],
            "step": [INPUT_STEP],
            "focus_score": [float("nan")],
            "saturated_fraction": [float("nan")],
            "flagged": [True],
            "flag_reason": [reason],
        }
    )


def _fixed_columns(kind: str) -> list[str]:
    return MEASUREMENT_COLUMNS[kind] if kind in MEASUREMENT_COLUMNS else FEATURE_COLUMNS[kind]


def tidy(frame: pd.DataFrame | None, kind: str, *, plate: str, well: str) -> pd.DataFrame:
    """Add ``plate``/``well``, order the columns and rows, reset the index.

    Examples
    --------
    >>> raw = pd.DataFrame({"plane": [0], "count": [7], "field": [0], "channel": ["DAPI"],
    ...                     "step": ["count"]})
    >>> table = tidy(raw, "counts", plate="p", well="B03")
    >>> table.columns.tolist()
    ['plate', 'well', 'field', 'channel', 'step', 'plane', 'count']
    >>> table["well"].tolist(), table["count"].tolist()
    (['B03'], [7])
    """
    if frame is None or frame.empty:
        return empty_table(kind)
    frame = frame.assign(plate=plate, well=well)
    columns = KEY_COLUMNS + _fixed_columns(kind)
    if kind in FEATURE_COLUMNS:
        columns += [column for column in frame.columns if column not in columns]
    order = [c for c in ["field", "channel", "step", "plane", "label"] if c in columns]
    if kind == "field_qc":
        frame = frame.astype({"flagged": bool})
    return frame[columns].sort_values(order, kind="stable").reset_index(drop=True)


def write_table(frame, kind: str, path, *, plate: str, well: str) -> None:
    """Write one well's ``kind`` table as Parquet (a zero-row table when there is none)
    into a directory being written (:func:`~hcs_steps.plate.atomic.directory_written`).

    The directory makes it atomic: it is flushed and renamed into place whole, so a crash
    never leaves a half-written table that a rerun would take as done, and the file needs
    no temporary name, ``fsync`` and rename of its own (a well's tables are 15 files, and
    those made a fifth of a demo well's ``fsync`` calls)."""
    tidy(frame, kind, plate=plate, well=well).to_parquet(path, index=False)


def read_tables(paths, kind: str) -> pd.DataFrame:
    """Concatenate Parquet tables, keeping the columns even when all are empty.

    Concatenated as Arrow tables and converted to pandas once: a plate's tables are a few
    rows each in thousands of files, and converting each file to pandas cost more than
    reading it (1536 wells x 5 kinds). Columns missing from some tables are null there,
    as pandas' concat makes them."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    read = [table for table in (pq.read_table(path) for path in paths) if table.num_rows]
    if not read:
        return empty_table(kind)
    return pa.concat_tables(read, promote_options="permissive").to_pandas()


def read_frames(frames, kind: str) -> pd.DataFrame:
    """Concatenate tables of ``kind``, keeping the columns even when all are empty."""
    frames = [frame for frame in frames if len(frame)]
    if not frames:
        return empty_table(kind)
    return pd.concat(frames, ignore_index=True)


def write_outputs(frame: pd.DataFrame, parquet=None, csv=None) -> None:
    """Write ``frame`` as Parquet and/or CSV, each file atomically."""
    if parquet:
        write_with(parquet, lambda tmp: frame.to_parquet(tmp, index=False))
    if csv:
        write_with(csv, lambda tmp: frame.to_csv(tmp, index=False))


def well_summary(counts: pd.DataFrame, objects: pd.DataFrame) -> pd.DataFrame:
    """One value per plate, well, step, channel and measurement (what the heatmaps show).

    ``count_mean``: objects per field and plane; ``count_total``: objects in the well;
    ``area_mean`` and ``intensity_mean``: over the well's objects.

    Examples
    --------
    >>> counts = pd.DataFrame({"plate": "p", "well": ["A01", "A01"], "field": [0, 1],
    ...                        "channel": "DAPI", "step": "count", "plane": 0, "count": [4, 6]})
    >>> well_summary(counts, empty_table("objects"))[["measurement", "value"]].values.tolist()
    [['count_mean', 5.0], ['count_total', 10.0]]
    """
    keys = ["plate", "well", "step", "channel"]
    parts = []
    if len(counts):
        grouped = counts.groupby(keys, sort=True)["count"]
        parts += [grouped.mean().rename("count_mean"), grouped.sum().rename("count_total")]
    if len(objects):
        grouped = objects.groupby(keys, sort=True)
        parts += [
            grouped["area"].mean().rename("area_mean"),
            grouped["mean_intensity"].mean().rename("intensity_mean"),
        ]
    if not parts:
        return pd.DataFrame({column: [] for column in SUMMARY_COLUMNS})
    wide = pd.concat(parts, axis=1)
    long = wide.reset_index().melt(id_vars=keys, var_name="measurement", value_name="value")
    long["value"] = long["value"].astype(float)
    return long.sort_values(keys + ["measurement"], kind="stable").reset_index(drop=True)[
        SUMMARY_COLUMNS
    ]


def without_flagged_fields(frames: dict[str, pd.DataFrame], field_qc: pd.DataFrame) -> dict:
    """``frames`` without the rows of the fields (plate, well, field) that QC flagged.

    Examples
    --------
    >>> counts = pd.DataFrame({"plate": "p", "well": "A01", "field": [0, 1], "count": [5, 90]})
    >>> qc = pd.DataFrame({"plate": "p", "well": "A01", "field": [1], "flagged": [True]})
    >>> without_flagged_fields({"counts": counts}, qc)["counts"]["count"].tolist()
    [5]
    """
    keys = ["plate", "well", "field"]
    flagged = field_qc.loc[field_qc["flagged"].astype(bool), keys].drop_duplicates()
    if flagged.empty:
        return frames
    kept = {}
    for kind, frame in frames.items():
        marked = frame.merge(flagged.assign(_flagged=True), on=keys, how="left")
        kept[kind] = frame[marked["_flagged"].isna().to_numpy()].reset_index(drop=True)
    return kept
