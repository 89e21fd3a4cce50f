"""Well summaries against the plate's controls: percent of negative control, robust z-score.

Per plate, step, channel and measurement: ``percent_of_negative`` is the value as a
percentage of the median of the negative-control wells; ``robust_z`` is the value minus the
reference median, over the reference MAD scaled by 1.4826 (the MAD of a normal distribution
then equals its standard deviation). The reference is the negative controls, or every sample
well on a plate without negative controls; ``empty`` wells are never part of it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: The scale that makes the median absolute deviation estimate a normal standard deviation.
MAD_TO_SD = 1.4826
GROUP = ["plate", "step", "channel", "measurement"]


def mad(values) -> float:
    """The median absolute deviation of ``values``.

    Examples
    --------
    >>> mad([1.0, 2.0, 3.0, 4.0, 100.0])
    1.0
    """
    values = np.asarray(values, dtype=float)
    return float(np.median(np.abs(values - np.median(values))))


def normalise(summary: pd.DataFrame, layout: pd.DataFrame) -> pd.DataFrame:
    """``summary`` (one row per well and measurement) with the layout's columns added and
    ``percent_of_negative``, ``robust_z`` and ``z_reference`` (what the z-score is against).

    Examples
    --------
    >>> summary = pd.DataFrame({"plate": "p", "well": ["A01", "A02", "A03", "A04"],
    ...     "step": "count", "channel": "DAPI", "measurement": "count_mean",
    ...     "value": [10.0, 12.0, 5.0, 20.0]})
    >>> layout = pd.DataFrame({"well": ["A01", "A02", "A03", "A04"], "condition": "",
    ...     "compound": "", "concentration": np.nan,
    ...     "role": ["negative", "negative", "positive", "sample"]})
    >>> out = normalise(summary, layout)
    >>> out["percent_of_negative"].round(1).tolist()
    [90.9, 109.1, 45.5, 181.8]
    >>> out["robust_z"].round(3).tolist(), out["z_reference"].iloc[0]
    ([-0.674, 0.674, -4.047, 6.07], 'negative controls')
    """
    merged = summary.merge(layout, on="well", how="left", validate="many_to_one")
    merged["role"] = merged["role"].fillna("sample")
    parts = [_normalise_group(group) for _, group in merged.groupby(GROUP, sort=False)]
    if not parts:
        return merged.assign(percent_of_negative=np.nan, robust_z=np.nan, z_reference="")
    return pd.concat(parts).loc[merged.index]


def _normalise_group(group: pd.DataFrame) -> pd.DataFrame:
    values = group["value"].astype(float)
    negative = values[group["role"] == "negative"]
    samples = values[group["role"] == "sample"]
    reference, name = (negative, "negative controls") if len(negative) else (samples, "samples")
    negative_median = float(np.median(negative)) if len(negative) else np.nan
    # A zero median has no percentages; a NaN one (no controls) gives NaN by itself.
    percent = 100.0 * values / negative_median if negative_median != 0 else values * np.nan
    spread = MAD_TO_SD * mad(reference) if len(reference) else np.nan
    if not spread:  # no spread in the reference: a z-score would divide by zero
        spread = np.nan
    centre = float(np.median(reference)) if len(reference) else np.nan
    return group.assign(
        percent_of_negative=percent,
        robust_z=(values - centre) / spread,
        z_reference=name if len(reference) else "",
    )
