"""Sweep plots: per measurement, every combination's value in every well, and their spread.

One PNG per (step, channel, measurement). The left panel is a combinations x wells matrix
with the values written in, so two combinations can be compared well by well; the right
panel shares its rows and shows the spread across wells per combination (box and dots),
so a combination that counts consistently stands out. Uses matplotlib's object API (no
``pyplot``), safe in the threads of a Snakemake process.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from hcs_steps.plate.layout import sort_wells
from hcs_steps.workflow.heatmap import file_name


def value_matrix(group: pd.DataFrame, combinations, wells) -> np.ndarray:
    """A combinations x wells matrix of ``value``, NaN where a well has none.

    Examples
    --------
    >>> group = pd.DataFrame({"combination": ["a", "b"], "well": ["B02", "B03"],
    ...                       "value": [1.0, 2.0]})
    >>> value_matrix(group, ["a", "b"], ["B02", "B03"]).tolist()
    [[1.0, nan], [nan, 2.0]]
    """
    table = group.pivot_table(index="combination", columns="well", values="value", aggfunc="first")
    return table.reindex(index=list(combinations), columns=list(wells)).to_numpy(dtype=float)


def draw_sweep_plot(
    matrix: np.ndarray, combinations, wells, measurement: str, title: str, path
) -> None:
    """Write one sweep plot PNG (see the module docstring)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    height = 1.6 + 0.34 * len(combinations)
    width = 5.5 + 0.45 * len(wells)
    figure = Figure(figsize=(min(width, 22), min(height, 24)), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    per_well, spread = figure.subplots(
        1, 2, sharey=True, width_ratios=[max(len(wells), 2), 4], squeeze=True
    )
    image = per_well.imshow(np.ma.masked_invalid(matrix), cmap="viridis", aspect="auto")
    per_well.set_facecolor("0.85")
    per_well.set_xticks(range(len(wells)), wells, fontsize=7, rotation=90 if len(wells) > 12 else 0)
    per_well.set_yticks(range(len(combinations)), combinations, fontsize=7)
    per_well.set_title("value per well", fontsize=8)
    if matrix.size <= 400:  # small sweeps: the values are readable in the cells
        for (i, j), value in np.ndenumerate(matrix):
            if not np.isnan(value):
                colour = "k" if image.norm(value) > 0.5 else "w"
                per_well.text(
                    j, i, f"{value:.3g}", ha="center", va="center", fontsize=6, color=colour
                )
    for i, row in enumerate(matrix):
        values = row[~np.isnan(row)]
        if not values.size:
            continue
        low, median, high = np.percentile(values, [25, 50, 75])
        # drawn by hand rather than with boxplot(), whose orientation argument changed in 3.10
        spread.barh(i, high - low, left=low, height=0.6, color="0.8", edgecolor="0.4")
        spread.vlines(median, i - 0.3, i + 0.3, color="k")
        spread.hlines(i, values.min(), values.max(), color="0.4", lw=0.8, zorder=0)
        spread.plot(values, np.full(values.size, i), "o", color="tab:blue", alpha=0.7, ms=3)
    spread.set_title("spread across wells", fontsize=8)
    spread.set_xlabel(measurement, fontsize=7)
    spread.tick_params(labelsize=7)
    spread.grid(axis="x", color="0.9")
    colorbar = figure.colorbar(image, ax=per_well, shrink=0.8, location="bottom", pad=0.02)
    colorbar.ax.tick_params(labelsize=7)
    figure.suptitle(title, fontsize=9)
    figure.savefig(path, metadata={"Software": None})


def write_sweep_plots(summary: pd.DataFrame, out_dir) -> list[Path]:
    """One plot per (step, channel, measurement) of the sweep summary into ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    combinations = list(dict.fromkeys(summary["combination"]))
    written = []
    for (step, channel, measurement), group in summary.groupby(
        ["step", "channel", "measurement"], sort=True
    ):
        wells = sort_wells(set(group["well"]))
        path = out_dir / file_name(step, channel, measurement)
        plate = group["plate"].iloc[0]
        title = f"{plate}: {measurement} ({step}, {channel}) across the sweep"
        matrix = value_matrix(group, combinations, wells)
        draw_sweep_plot(matrix, combinations, wells, measurement, title, path)
        written.append(path)
    return written
