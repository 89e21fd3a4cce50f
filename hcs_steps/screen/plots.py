"""Plots of a screen's plate context: the QC verdict and the dose-response curves.

matplotlib's object API (no ``pyplot``), safe in the threads of a Snakemake process.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from hcs_steps.screen.dose import logistic4


def _figure(width, height):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(figure)
    return figure


def qc_plot(qc: pd.DataFrame, measurement: str, path) -> bool:
    """Z' of every step, channel and measurement as bars, the threshold as a line, and the
    plate's verdict (judged on ``measurement``) as the title; returns the verdict."""
    judged = qc[qc["measurement"] == measurement]
    passed = bool(len(judged)) and bool(judged["passed"].all())
    threshold = float(qc["z_prime_min"].iloc[0]) if len(qc) else 0.5
    figure = _figure(7, 1.2 + 0.3 * max(len(qc), 1))
    axes = figure.add_subplot()
    labels = [f"{r.step} / {r.channel} / {r.measurement}" for r in qc.itertuples()]
    values = np.clip(qc["z_prime"].to_numpy(dtype=float), -1, 1)
    colours = ["tab:green" if ok else "tab:red" for ok in qc["passed"]]
    axes.barh(range(len(qc)), np.nan_to_num(values, nan=0.0), color=colours)
    axes.set_yticks(range(len(qc)), labels, fontsize=7)
    axes.axvline(threshold, color="k", linestyle="--", linewidth=1)
    axes.set_xlim(-1, 1)
    axes.set_xlabel("Z'-factor (clipped to -1..1; no bar: fewer than two wells of a control)")
    verdict = "PASS" if passed else ("FAIL" if len(judged) else "NOT ASSESSED")
    plate = qc["plate"].iloc[0] if len(qc) else ""
    axes.set_title(f"plate {plate}: {verdict} ({measurement}, Z' >= {threshold:g})", fontsize=9)
    figure.tight_layout()
    figure.savefig(path, metadata={"Software": None})
    return passed


def dose_plots(normalised: pd.DataFrame, fits: pd.DataFrame, out_dir) -> list[Path]:
    """One PNG per compound and measurement: the wells' values against dose, and the fit."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    keys = ["compound", "step", "channel", "measurement"]
    for fit in fits.itertuples():
        points = normalised
        for key in keys:
            points = points[points[key] == getattr(fit, key)]
        points = points[points["concentration"] > 0]
        figure = _figure(5, 3.5)
        axes = figure.add_subplot()
        axes.scatter(points["concentration"], points["value"], s=14, color="tab:blue")
        if fit.fitted:
            doses = np.logspace(*np.log10(points["concentration"].agg(["min", "max"])), 100)
            # logistic4 runs its slope against dose: the table's hill has the usual sign.
            curve = logistic4(np.log10(doses), fit.bottom, fit.top, np.log10(fit.ec50), -fit.hill)
            axes.plot(doses, curve, color="k", linewidth=1)
            axes.axvline(fit.ec50, color="tab:red", linestyle="--", linewidth=1)
            axes.axvspan(fit.ec50_low, fit.ec50_high, color="tab:red", alpha=0.1)
            title = f"EC50 {fit.ec50:.3g} (95% CI {fit.ec50_low:.3g}-{fit.ec50_high:.3g})"
        else:
            title = "no fit (too few doses or no convergence)"
        axes.set_xscale("log")
        axes.set_xlabel("concentration")
        axes.set_ylabel(f"{fit.measurement} ({fit.step}, {fit.channel})")
        axes.set_title(f"{fit.compound}: {title}", fontsize=9)
        figure.tight_layout()
        name = re.sub(r"[^A-Za-z0-9_.-]", "_", f"{fit.compound}.{fit.step}.{fit.channel}")
        path = out_dir / f"{name}.{fit.measurement}.png"
        figure.savefig(path, metadata={"Software": None})
        written.append(path)
    return written
