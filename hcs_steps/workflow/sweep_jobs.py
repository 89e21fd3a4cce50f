"""The bodies of the sweep's plate-level rules: the combinations table, the summary, the plots.

Each output is written to a hidden sibling and renamed into place, so a killed job leaves
no half-written table for the next run to take as done.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from hcs_steps.plate.atomic import temporary_sibling
from hcs_steps.workflow.joblog import job_logger
from hcs_steps.workflow.tables import SUMMARY_COLUMNS

ID_COLUMNS = ["plate", "well", "combination"]


def _publish(frame: pd.DataFrame, path, write) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_sibling(path)
    try:
        write(frame, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_csv(frame: pd.DataFrame, path) -> None:
    _publish(frame, path, lambda f, p: f.to_csv(p, index=False))


def write_parquet(frame: pd.DataFrame, path) -> None:
    _publish(frame, path, lambda f, p: f.to_parquet(p, index=False))


def combinations_table(table: list[dict], out: str, log: str) -> None:
    """``combinations.csv``: a combination's name and the value of every swept key."""
    with job_logger(log) as logger:
        write_csv(pd.DataFrame(table), out)
        logger.info("%d combinations", len(table))


def merge_summaries(summaries: dict[str, pd.DataFrame], table: list[dict]) -> pd.DataFrame:
    """One long table: ``plate, well, combination``, one column per swept key, then the values.

    Examples
    --------
    >>> summary = pd.DataFrame({"plate": "p", "well": ["B02"], "step": "count",
    ...                         "channel": "nuclei", "measurement": "count_mean", "value": 4.0})
    >>> table = [{"combination": "min_area-30", "count.min_area": 30}]
    >>> merged = merge_summaries({"min_area-30": summary}, table)
    >>> merged.columns.tolist()
    ['plate', 'well', 'combination', 'count.min_area', 'step', 'channel', 'measurement', 'value']
    >>> merged.iloc[0].astype(str).tolist()
    ['p', 'B02', 'min_area-30', '30', 'count', 'nuclei', 'count_mean', '4.0']
    """
    keys = [column for column in table[0] if column != "combination"]
    frames = []
    for row in table:
        frame = summaries[row["combination"]].assign(**row)
        frames.append(frame[ID_COLUMNS + keys + SUMMARY_COLUMNS[2:]])
    return pd.concat(frames, ignore_index=True)


def sweep_summary(
    inputs: dict[str, str], table: list[dict], parquet: str, csv: str, log: str
) -> None:
    """Merge every combination's well summary (``inputs``: combination -> Parquet path)."""
    with job_logger(log) as logger:
        merged = merge_summaries({name: pd.read_parquet(p) for name, p in inputs.items()}, table)
        write_parquet(merged, parquet)
        write_csv(merged, csv)
        logger.info("%d rows from %d combinations", len(merged), len(inputs))


def sweep_plots(summary: str, out_dir: str, log: str) -> None:
    """One PNG per measurement of the sweep summary (see :mod:`sweep_plots`)."""
    from hcs_steps.plate.atomic import publish_directory
    from hcs_steps.workflow.sweep_plots import write_sweep_plots

    with job_logger(log) as logger:
        final = Path(out_dir)
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = temporary_sibling(final)
        written = write_sweep_plots(pd.read_parquet(summary), tmp)
        publish_directory(tmp, final)
        logger.info("wrote %d sweep plots to %s", len(written), out_dir)
