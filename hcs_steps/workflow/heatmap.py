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


# How control wells are outlined on a heatmap (the layout's roles).
CONTROL_OUTLINES = {"negative": "tab:blue", "positive": "tab:red", "empty": "0.4"}
# The normalised values drawn beside each measurement when the plate has a layout.
NORMALISED = {"robust_z": "robust z-score", "percent_of_negative": "% of negative control"}


def draw_heatmap(
    matrix: np.ndarray, rows, columns, title: str, path, roles: dict | None = None
) -> None:
    """Write one heatmap PNG (wells without a value are left grey; control wells of
    ``roles``, well -> role, outlined in their role's colour)."""
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
    _outline_controls(axes, roles or {}, rows, columns)
    figure.colorbar(image, ax=axes, shrink=0.8)
    figure.savefig(path, metadata={"Software": None})


def _outline_controls(axes, roles: dict, rows, columns) -> None:
    from matplotlib.patches import Rectangle

    shown = set()
    for well, role in roles.items():
        colour = CONTROL_OUTLINES.get(role)
        row, column = parse_well(well)
        if colour is None or row not in rows or column not in columns:
            continue
        axes.add_patch(
            Rectangle(
                (columns.index(column) - 0.5, rows.index(row) - 0.5), 1, 1, fill=False,
                edgecolor=colour, linewidth=1.6, label=None if role in shown else role,
            )
        )  # fmt: skip
        shown.add(role)
    if shown:
        axes.legend(
            loc="upper center", bbox_to_anchor=(0.5, -0.06), ncol=3, fontsize=7, frameon=False
        )


def write_heatmaps(summary: pd.DataFrame, out_dir, *, plate_wells, layout="auto") -> list[Path]:
    """One heatmap per (step, channel, measurement) of ``summary`` into ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows, columns = layout_grid(plate_wells, layout)
    written = []
    roles = {}
    if "role" in summary:
        roles = dict(zip(summary["well"], summary["role"], strict=False))
    for (step, channel, measurement), group in summary.groupby(
        ["step", "channel", "measurement"], sort=True
    ):
        plate = group["plate"].iloc[0]
        drawn = {"value": (measurement, file_name(step, channel, measurement))}
        for column, label in NORMALISED.items():
            if column in group and group[column].notna().any():
                name = file_name(step, channel, f"{measurement}.{column}")
                drawn[column] = (f"{measurement}, {label}", name)
        for column, (label, name) in drawn.items():
            values = dict(zip(group["well"], group[column], strict=True))
            path = out_dir / name
            title = f"{plate}: {label} ({step}, {channel})"
            draw_heatmap(plate_matrix(values, rows, columns), rows, columns, title, path, roles)
            written.append(path)
    return written


def write_screen_heatmaps(
    summary: pd.DataFrame, plate_wells: dict[str, list[str]], out_dir
) -> list[Path]:
    """A screen of several plates: per measurement one PNG with a heatmap per plate, side
    by side on one colour scale, so that plates compare at a glance."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for (step, channel, measurement), group in summary.groupby(
        ["step", "channel", "measurement"], sort=True
    ):
        figure = Figure(figsize=(4.5 * len(plate_wells), 3.6), dpi=100)
        FigureCanvasAgg(figure)
        low, high = np.nanmin(group["value"]), np.nanmax(group["value"])
        image = None
        for index, (plate, wells) in enumerate(plate_wells.items(), start=1):
            axes = figure.add_subplot(1, len(plate_wells), index)
            rows, columns = layout_grid(wells)
            values = group[group["plate"] == plate]
            matrix = plate_matrix(
                dict(zip(values["well"], values["value"], strict=True)), rows, columns
            )
            axes.set_facecolor("0.85")
            image = axes.imshow(np.ma.masked_invalid(matrix), vmin=low, vmax=high)
            tick = 1 if len(columns) <= 24 else 4
            axes.set_xticks(range(0, len(columns), tick), columns[::tick], fontsize=6)
            axes.set_yticks(range(0, len(rows), tick), rows[::tick], fontsize=6)
            axes.set_title(plate, fontsize=9)
        figure.suptitle(f"{measurement} ({step}, {channel})", fontsize=10)
        figure.colorbar(image, ax=figure.axes, shrink=0.8)
        path = out_dir / file_name(step, channel, measurement)
        figure.savefig(path, metadata={"Software": None})
        written.append(path)
    return written
