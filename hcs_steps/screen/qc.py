"""Quality control: does a plate separate its controls, and is each field usable?

Plate QC per step, channel and measurement, from the positive (p) and negative (n) control
wells: the Z'-factor ``1 - 3 (sd_p + sd_n) / |mean_p - mean_n|`` (Zhang et al. 1999; >= 0.5
is an excellent assay) and the strictly standardised mean difference
``(mean_p - mean_n) / sqrt(sd_p**2 + sd_n**2)`` (Zhang 2007). Field QC per field and
channel: a focus score, the power log-log slope of the image's radial power spectrum
(blurred images lose high frequencies, so the slope is steeper: more negative), and the
fraction of pixels at the plane's maximum value (saturated pixels pile up there).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

GROUP = ["plate", "step", "channel", "measurement"]
QC_COLUMNS = [*GROUP, "n_positive", "n_negative", "z_prime", "ssmd", "z_prime_min", "passed"]


def z_prime(positive, negative) -> float:
    """The Z'-factor of two control groups (NaN with fewer than two wells in either).

    Examples
    --------
    >>> round(z_prime([100, 102, 98], [10, 12, 8]), 3)
    0.867
    """
    positive, negative = np.asarray(positive, float), np.asarray(negative, float)
    if len(positive) < 2 or len(negative) < 2:
        return float("nan")
    gap = abs(positive.mean() - negative.mean())
    if gap == 0:
        return float("-inf")
    return float(1 - 3 * (positive.std(ddof=1) + negative.std(ddof=1)) / gap)


def ssmd(positive, negative) -> float:
    """The strictly standardised mean difference of two control groups.

    Examples
    --------
    >>> round(ssmd([100, 102, 98], [10, 12, 8]), 2)
    31.82
    """
    positive, negative = np.asarray(positive, float), np.asarray(negative, float)
    if len(positive) < 2 or len(negative) < 2:
        return float("nan")
    spread = np.sqrt(positive.var(ddof=1) + negative.var(ddof=1))
    difference = positive.mean() - negative.mean()
    return float(difference / spread) if spread else float("inf") * np.sign(difference)


def plate_qc(normalised: pd.DataFrame, z_prime_min: float = 0.5) -> pd.DataFrame:
    """One row per plate, step, channel and measurement: controls counted, Z', SSMD, and
    whether Z' reaches ``z_prime_min`` (False where the plate lacks two of each control)."""
    rows = []
    for key, group in normalised.groupby(GROUP, sort=True):
        positive = group.loc[group["role"] == "positive", "value"]
        negative = group.loc[group["role"] == "negative", "value"]
        score = z_prime(positive, negative)
        rows.append(
            [
                *key,
                len(positive),
                len(negative),
                score,
                ssmd(positive, negative),
                z_prime_min,
                bool(score >= z_prime_min),
            ]
        )
    return pd.DataFrame(rows, columns=QC_COLUMNS)


def power_log_log_slope(plane) -> float:
    """Slope of log power against log spatial frequency of a 2D image (focus score).

    In focus, a natural image's power falls roughly as 1/f^2 (slope near -2); blur removes
    the high frequencies and makes the slope steeper.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> sharp = rng.random((128, 128))
    >>> from scipy import ndimage
    >>> power_log_log_slope(ndimage.gaussian_filter(sharp, 3)) < power_log_log_slope(sharp)
    True
    """
    plane = np.asarray(plane, dtype=np.float64)
    plane = plane - plane.mean()
    power = np.abs(np.fft.fftshift(np.fft.fft2(plane))) ** 2
    ny, nx = plane.shape
    yy, xx = np.indices(plane.shape)
    radius = np.hypot(yy - ny // 2, xx - nx // 2).astype(int)
    limit = min(ny, nx) // 2
    sums = np.bincount(radius.ravel(), power.ravel(), minlength=limit + 1)[1 : limit + 1]
    counts = np.bincount(radius.ravel(), minlength=limit + 1)[1 : limit + 1]
    radial = sums / np.maximum(counts, 1)
    keep = radial > 0
    if keep.sum() < 2:
        return float("nan")  # a flat image has no spectrum to fit
    frequencies = np.arange(1, limit + 1)[keep]
    slope, _ = np.polyfit(np.log(frequencies), np.log(radial[keep]), 1)
    return float(slope)


def saturated_fraction(plane) -> float:
    """The fraction of pixels at the plane's maximum value (0 for a flat plane).

    Examples
    --------
    >>> saturated_fraction(np.array([[1, 4095], [4095, 7]]))
    0.5
    """
    plane = np.asarray(plane)
    if plane.min() == plane.max():
        return 0.0
    return float(np.count_nonzero(plane == plane.max()) / plane.size)


def field_qc(stack) -> dict[str, float]:
    """Focus and saturation of one field's ``[Z, Y, X]`` stack: the focus score of its
    sharpest plane (the least negative slope) and the largest saturated fraction."""
    slopes = [power_log_log_slope(plane) for plane in stack]
    return {
        "focus_score": float(np.nanmax(slopes)) if not np.all(np.isnan(slopes)) else np.nan,
        "saturated_fraction": max(saturated_fraction(plane) for plane in stack),
    }
