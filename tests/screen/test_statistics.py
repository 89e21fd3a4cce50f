"""Normalisation and plate QC against values computed by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hcs_steps.screen.normalise import normalise
from hcs_steps.screen.qc import plate_qc


def plate(values, roles):
    wells = [f"A{n:02d}" for n in range(1, len(values) + 1)]
    summary = pd.DataFrame(
        {"plate": "p", "well": wells, "step": "count", "channel": "DAPI",
         "measurement": "count_mean", "value": values}
    )  # fmt: skip
    layout = pd.DataFrame(
        {"well": wells, "condition": "", "compound": "", "concentration": np.nan, "role": roles}
    )
    return summary, layout


def test_percent_of_negative_and_robust_z_by_hand():
    # negatives 8, 10, 12: median 10, MAD median(|-2|, 0, 2) = 2, scale 2 * 1.4826 = 2.9652
    summary, layout = plate(
        [8.0, 10.0, 12.0, 2.0, 25.0, 0.0], ["negative"] * 3 + ["positive", "sample", "empty"]
    )
    out = normalise(summary, layout)
    assert out["percent_of_negative"].tolist() == pytest.approx([80, 100, 120, 20, 250, 0])
    assert out["robust_z"].tolist() == pytest.approx(
        [-2 / 2.9652, 0, 2 / 2.9652, -8 / 2.9652, 15 / 2.9652, -10 / 2.9652]
    )
    assert set(out["z_reference"]) == {"negative controls"}


def test_without_negative_controls_the_samples_are_the_reference():
    # samples 4, 6, 8, 30: median 7, deviations 3, 1, 1, 23 -> MAD 2
    summary, layout = plate([4.0, 6.0, 8.0, 30.0, 99.0], ["sample"] * 4 + ["empty"])
    out = normalise(summary, layout)
    assert out["percent_of_negative"].isna().all()
    assert out["robust_z"].tolist() == pytest.approx(
        [(v - 7) / (2 * 1.4826) for v in (4.0, 6.0, 8.0, 30.0, 99.0)]
    )
    assert set(out["z_reference"]) == {"samples"}


def test_z_prime_and_ssmd_by_hand():
    # positives 2, 4, 6: mean 4, sd 2; negatives 20, 22, 24: mean 22, sd 2
    summary, layout = plate(
        [2.0, 4.0, 6.0, 20.0, 22.0, 24.0, 13.0], ["positive"] * 3 + ["negative"] * 3 + ["sample"]
    )
    qc = plate_qc(normalise(summary, layout), z_prime_min=0.5)
    (row,) = qc.to_dict("records")
    assert row["z_prime"] == pytest.approx(1 - 3 * (2 + 2) / 18)  # 0.3333
    assert row["ssmd"] == pytest.approx(-18 / np.sqrt(8))
    assert (row["n_positive"], row["n_negative"], row["passed"]) == (3, 3, False)
    assert plate_qc(normalise(summary, layout), z_prime_min=0.3)["passed"].item()


def test_a_plate_without_two_of_each_control_does_not_pass():
    summary, layout = plate([1.0, 5.0, 9.0], ["positive", "negative", "negative"])
    (row,) = plate_qc(normalise(summary, layout)).to_dict("records")
    assert np.isnan(row["z_prime"]) and not row["passed"]
