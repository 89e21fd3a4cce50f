"""Dose response: a known four-parameter logistic is recovered, with an EC50 interval."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hcs_steps.screen.dose import dose_response, fit_logistic4, logistic4


def test_a_noisy_known_curve_gives_its_ec50_within_its_interval():
    rng = np.random.default_rng(3)
    doses = np.repeat(10.0 ** np.linspace(-3, 2, 8), 4)
    truth = dict(bottom=8.0, top=120.0, log_ec50=np.log10(0.25), hill=1.0)
    counts = logistic4(np.log10(doses), **truth) + rng.normal(0, 3, doses.size)
    fit = fit_logistic4(doses, counts)
    assert fit["fitted"] and fit["n_points"] == 32
    assert fit["ec50"] == pytest.approx(0.25, rel=0.15)
    assert fit["ec50_low"] < 0.25 < fit["ec50_high"]
    assert fit["hill"] < 0  # a falling curve (an IC50)
    assert fit["top"] == pytest.approx(120, rel=0.05)


def test_too_few_doses_are_not_fitted():
    fit = fit_logistic4([1, 1, 2, 2], [5, 6, 7, 8])
    assert not fit["fitted"] and np.isnan(fit["ec50"])


def test_one_fit_per_compound_of_the_sample_wells():
    doses = 10.0 ** np.linspace(-2, 2, 6)
    rows = []
    for compound, ec50 in (("a", 0.1), ("b", 3.0)):
        values = logistic4(np.log10(doses), 0, 100, np.log10(ec50), 1.5)
        rows += [
            {"plate": "p", "well": f"{compound}{i}", "step": "count", "channel": "DAPI",
             "measurement": "count_mean", "value": v, "role": "sample", "compound": compound,
             "concentration": c}
            for i, (c, v) in enumerate(zip(doses, values, strict=True))
        ]  # fmt: skip
    rows.append({**rows[0], "role": "negative", "compound": "", "concentration": np.nan})
    fits = dose_response(pd.DataFrame(rows)).set_index("compound")
    assert fits.loc["a", "ec50"] == pytest.approx(0.1, rel=1e-3)
    assert fits.loc["b", "ec50"] == pytest.approx(3.0, rel=1e-3)
