"""Dose response: a four-parameter logistic per compound and measurement, with its EC50.

``y = bottom + (top - bottom) / (1 + (c / ec50) ** hill)``, fitted by least squares in
log10 concentration (``scipy.optimize.curve_fit``), so the EC50 (IC50 for a falling curve)
is estimated on the scale doses are planned on. Its 95 % confidence interval comes from the
fit's covariance of log10 EC50 and Student's t with n - 4 degrees of freedom.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import optimize, stats

#: The steepest Hill slope a fit may take; one that runs into it is no dose response.
SLOPE_BOUND = 10.0

FIT_COLUMNS = [
    "plate", "compound", "step", "channel", "measurement", "n_points", "ec50", "ec50_low",
    "ec50_high", "hill", "top", "bottom", "fitted",
]  # fmt: skip


def logistic4(log_concentration, bottom, top, log_ec50, hill):
    """The four-parameter logistic at ``log10(concentration)``.

    Examples
    --------
    >>> float(logistic4(np.log10(2.0), 0.0, 100.0, np.log10(2.0), 1.0))
    50.0
    """
    return bottom + (top - bottom) / (1 + 10 ** ((log_concentration - log_ec50) * hill))


def fit_logistic4(concentrations, values) -> dict:
    """Fit :func:`logistic4` to doses (> 0) and responses; NaN parameters if it fails.

    Examples
    --------
    >>> doses = np.repeat(10.0 ** np.arange(-3, 3), 3)
    >>> response = logistic4(np.log10(doses), 5.0, 95.0, np.log10(0.4), 1.2)
    >>> fit = fit_logistic4(doses, response)
    >>> round(fit["ec50"], 3), fit["fitted"]
    (0.4, True)
    """
    concentrations = np.asarray(concentrations, float)
    values = np.asarray(values, float)
    keep = (concentrations > 0) & np.isfinite(values)
    x, y = np.log10(concentrations[keep]), values[keep]
    failed = {
        "n_points": int(keep.sum()), "ec50": np.nan, "ec50_low": np.nan, "ec50_high": np.nan,
        "hill": np.nan, "top": np.nan, "bottom": np.nan, "fitted": False,
    }  # fmt: skip
    if len(np.unique(x)) < 4 or len(x) < 5:  # four parameters need more distinct doses
        return failed
    best = _best_fit(x, y)
    if best is None:
        return failed
    (bottom, top, log_ec50, hill), covariance = best
    if top < bottom:  # the same curve with the plateaus named the other way round
        bottom, top, hill = top, bottom, -hill
    spread = float(np.sqrt(covariance[2, 2])) if np.isfinite(covariance[2, 2]) else np.nan
    t = stats.t.ppf(0.975, len(x) - 4)
    low, high = 10 ** (log_ec50 - t * spread), 10 ** (log_ec50 + t * spread)
    # A response that does not follow the doses (a flat one, say) still gives numbers: its
    # slope runs into the bound or its EC50 has no finite interval. Those are not fits.
    meaningful = bool(
        np.isfinite([low, high]).all() and high > 0 and abs(hill) < 0.999 * SLOPE_BOUND
    )
    # top is the upper plateau; the model's hill runs against concentration, so report the
    # usual sign: > 0 for a response that rises with the dose.
    return {
        "n_points": len(x),
        "ec50": float(10**log_ec50),
        "ec50_low": float(low),
        "ec50_high": float(high),
        "hill": float(-hill),
        "top": float(top),
        "bottom": float(bottom),
        "fitted": meaningful,
    }


def _best_fit(x, y):
    """The least-squares fit from several starts, within bounds that keep it a dose curve.

    Four parameters on a handful of doses have local minima (a flat curve with plateaus far
    outside the data, say): start at each quartile of the doses, with both slopes, and
    bound the plateaus to the data's range widened by its span, the EC50 to a decade
    beyond the doses tested, and the slope to |hill| <= 10.
    """
    span = max(y.max() - y.min(), 1e-12)
    lower = [y.min() - span, y.min() - span, x.min() - 1, -SLOPE_BOUND]
    upper = [y.max() + span, y.max() + span, x.max() + 1, SLOPE_BOUND]
    best, best_error = None, np.inf
    for log_ec50 in np.quantile(x, [0.25, 0.5, 0.75]):
        for hill in (-1.0, 1.0):
            start = [y.min(), y.max(), log_ec50, hill]
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", optimize.OptimizeWarning)
                    params, covariance = optimize.curve_fit(
                        logistic4, x, y, p0=start, bounds=(lower, upper), maxfev=20000
                    )
            except (RuntimeError, ValueError):
                continue
            error = float(np.sum((logistic4(x, *params) - y) ** 2))
            if error < best_error:
                best, best_error = (params, covariance), error
    return best


def dose_response(normalised: pd.DataFrame) -> pd.DataFrame:
    """A fit per plate, compound, step, channel and measurement of the sample wells that
    have a compound and a concentration (the columns of :data:`FIT_COLUMNS`)."""
    doses = normalised[
        (normalised["role"] == "sample")
        & (normalised["compound"].fillna("") != "")
        & normalised["concentration"].notna()
    ]
    keys = ["plate", "compound", "step", "channel", "measurement"]
    rows = [
        {**dict(zip(keys, key, strict=True)), **fit_logistic4(g["concentration"], g["value"])}
        for key, g in doses.groupby(keys, sort=True)
    ]
    return pd.DataFrame(rows, columns=FIT_COLUMNS)
