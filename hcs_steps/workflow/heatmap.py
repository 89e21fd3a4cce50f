"""Plate heatmaps: one PNG per measurement, laid out as a 96, 384 or 1536-well plate.

Uses matplotlib's object API (no ``pyplot``), which is safe in the threads of a Snakemake
process running ``run:`` rules with ``--force-use-threads``.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from hcs_steps.plate.layout import PLATE_FORMATS, column_name, parse_well, plate_grid, row_name


def layout_grid(wells, layout="auto") -> tuple[list[str], list[str]]:
    """Row and column names of the plate drawn for ``wells``.

    Examples
    --------
    >>> rows, columns = layout_grid(["B03"])
    >>> len(rows), len(columns)
    (8, 12)
    >>> [len(names) for names in layout_grid(["B03"], 384)]
    [16, 24]
    """
    if layout == "auto":
        return plate_grid(list(wells))
    n_rows, n_columns = PLATE_FORMATS[int(layout)]
    return [row_name(i) for i in range(n_rows)], [column_name(j + 1) for j in range(n_columns)]


def file_name(step: str, channel: str, measurement: str) -> str:
    """A safe PNG name for one measurement.

    Examples
    --------
    >>> file_name("count", "DAPI 405", "count_mean")
    'count.DAPI_405.count_mean.png'
    """
    return re.sub(r"[^A-Za-z0-9_.-]", "_", f"{step}.{channel}.{measurement}") + ".png"


def plate_matrix(values: dict[str, float], rows, columns) -> np.ndarray:
    """A rows x columns matrix of ``values`` by well, NaN where a well has none.

    Examples
    --------
    >>> plate_matrix({"A02": 3.0}, ["A", "B"], ["01", "02"]).tolist()
    [[nan, 3.0], [nan, nan]]
    """
    matrix = np.full((len(rows), len(columns)), np.nan)
    for well, value in values.items():
        row, column = parse_well(well)
        matrix[rows.index(row), columns.index(column)] = value
    return matrix


def draw_heatmap(matrix: np.ndarray, rows, columns, title: str, path) -> None:
    """Write one heatmap PNG (wells without a value are left grey)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    width = 2 + 0.32 * len(columns)
    figure = Figure(figsize=(min(width, 20), min(1.5 + 0.32 * len(rows), 12)), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.set_facecolor("0.85")
    image = axes.imshow(np.ma.masked_invalid(matrix), cmap="viridis", aspect="equal")
    step = 1 if len(columns) <= 24 else 4
    axes.set_xticks(range(0, len(columns), step), columns[::step], fontsize=7)
    axes.set_yticks(range(0, len(rows), step), rows[::step], fontsize=7)
    axes.set_title(title, fontsize=9)
    if matrix.size <= 96:  # small plates: the values are readable in the wells
        for (i, j), value in np.ndenumerate(matrix):
            if not np.isnan(value):
                colour = "k" if image.norm(value) > 0.5 else "w"
                axes.text(j, i, f"{value:.3g}", ha="center", va="center", fontsize=6, color=colour)
    figure.colorbar(image, ax=axes, shrink=0.8)
    figure.savefig(path, metadata={"Software": None})


def write_heatmaps(summary: pd.DataFrame, out_dir, *, plate_wells, layout="auto") -> list[Path]:
    """One heatmap per (step, channel, measurement) of ``summary`` into ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows, columns = layout_grid(plate_wells, layout)
    written = []
    for (step, channel, measurement), group in summary.groupby(
        ["step", "channel", "measurement"], sort=True
    ):
        path = out_dir / file_name(step, channel, measurement)
        matrix = plate_matrix(dict(zip(group["well"], group["value"], strict=True)), rows, columns)
        plate = group["plate"].iloc[0]
        draw_heatmap(matrix, rows, columns, f"{plate}: {measurement} ({step}, {channel})", path)
        written.append(path)
    return written
