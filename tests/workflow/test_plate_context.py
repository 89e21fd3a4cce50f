"""Plate context in real runs: a layout's controls give QC and normalised values, and a
dose series whose cell count follows a known logistic gives back its EC50."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from workflow_support import make_config, run_snakemake, write_config

from hcs_steps.screen.dose import logistic4

pytestmark = pytest.mark.slow

SIZE = 128
TRUE_EC50, TOP, BOTTOM, HILL = 0.3, 36.0, 4.0, 1.5  # cells per field against dose
DOSES = [0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0]
# EC50 within this factor of the truth: counts are whole numbers of cells, so the curve
# is sampled with up to half a cell of rounding at each dose.
EC50_TOLERANCE = 1.25


def cells_plane(count: int, seed: int) -> np.ndarray:
    """``count`` separated bright disks (radius 4) on a 7 x 7 grid, at random grid places."""
    rng = np.random.default_rng(seed)
    plane = rng.normal(200, 15, (SIZE, SIZE))
    yy, xx = np.mgrid[:SIZE, :SIZE]
    places = rng.choice(49, size=count, replace=False)
    for place in places:
        y, x = 10 + 18 * (place // 7), 10 + 18 * (place % 7)
        plane[(yy - y) ** 2 + (xx - x) ** 2 <= 16] += 3000
    return plane.clip(0, 65535).astype(np.uint16)


def dose_plate(path):
    """Negative controls (full count), positive controls (the bottom count), a dose series."""
    from hcs_steps.plate import write_plate_metadata, write_well

    rows, wells = [], []
    plan = [("B02", "negative", None), ("B03", "negative", None), ("B04", "negative", None)]
    plan += [("C02", "positive", None), ("C03", "positive", None), ("C04", "positive", None)]
    for index, dose in enumerate(DOSES):
        for row in "DE":
            plan.append((f"{row}{index + 2:02d}", "sample", dose))
    for number, (well, role, dose) in enumerate(plan):
        if role == "negative":
            count = int(TOP)
        elif role == "positive":
            count = int(BOTTOM)  # a kill control leaves a few cells (an empty field would
            # make a threshold split noise into objects)
        else:
            count = int(
                round(float(logistic4(np.log10(dose), BOTTOM, TOP, np.log10(TRUE_EC50), HILL)))
            )
        data = np.stack([cells_plane(count, seed=number)])[None, :, None]  # 1 field, 1 ch, 1 z
        write_well(path, well, data, channel_names=["DAPI"])
        wells.append(well)
        rows.append(
            {"well": well, "role": role, "compound": "" if dose is None else "drugX",
             "concentration": "" if dose is None else dose}
        )  # fmt: skip
    write_plate_metadata(path, name="doses", wells=wells, channel_names=["DAPI"])
    return pd.DataFrame(rows)


def count_pipeline():
    return [
        {
            "name": "count",
            "step": "count_cells_single_channel",
            "backend": "numpy",
            "params": {"detection_method": "threshold", "min_area": 20, "smoothing_sigma": 1.0},
        }
    ]


@pytest.fixture(scope="module")
def dose_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("doses")
    layout = dose_plate(workdir / "doses.zarr")
    layout.to_csv(workdir / "layout.csv", index=False)
    config = make_config(workdir / "doses.zarr", pipeline=count_pipeline())
    config["plates"]["tiny"]["layout"] = str(workdir / "layout.csv")
    write_config(workdir, config)
    run_snakemake(workdir)
    return workdir / "results" / "tiny"


def test_the_ec50_of_a_known_logistic_is_recovered(dose_run):
    fits = pd.read_csv(dose_run / "tables" / "dose_response.csv")
    fit = fits[fits["measurement"] == "count_mean"].iloc[0]
    assert fit["compound"] == "drugX" and bool(fit["fitted"])
    assert TRUE_EC50 / EC50_TOLERANCE < fit["ec50"] < TRUE_EC50 * EC50_TOLERANCE
    assert fit["ec50_low"] < TRUE_EC50 < fit["ec50_high"]
    assert fit["hill"] < 0  # counts fall with the dose
    assert (dose_run / "qc" / "dose_response").is_dir()


def test_controls_give_qc_and_normalised_values(dose_run):
    qc = pd.read_csv(dose_run / "tables" / "qc.csv").set_index("measurement")
    # identical controls: Z' is 1 minus the (small) spread of the counts over their gap
    assert qc.loc["count_mean", "n_negative"] == 3 and qc.loc["count_mean", "n_positive"] == 3
    assert qc.loc["count_mean", "z_prime"] > 0.9 and bool(qc.loc["count_mean", "passed"])
    summary = pd.read_csv(dose_run / "tables" / "summary.csv")
    means = summary[summary["measurement"] == "count_mean"].set_index("well")
    assert means.loc["B02", "percent_of_negative"] == pytest.approx(100)
    assert means.loc["C02", "percent_of_negative"] == pytest.approx(100 * BOTTOM / TOP)
    counts = pd.read_csv(dose_run / "tables" / "counts.csv")
    assert {"role", "compound", "concentration"} <= set(counts.columns)
    # identical negative controls have no spread: a robust z-score is undefined, not drawn
    assert means["robust_z"].isna().all()
    assert (dose_run / "heatmaps" / "count.DAPI.count_mean.percent_of_negative.png").is_file()
    assert not (dose_run / "heatmaps" / "count.DAPI.count_mean.robust_z.png").exists()


def test_a_bad_layout_stops_the_run_before_any_job(tmp_path, tiny_plate):
    (tmp_path / "layout.csv").write_text("well,role\nB02,negative\nB02,positive\n")
    config = make_config(tiny_plate)
    config["plates"]["tiny"]["layout"] = str(tmp_path / "layout.csv")
    write_config(tmp_path, config)
    refused = run_snakemake(tmp_path, "-n", check=False)
    assert refused.returncode != 0
    assert "plates.tiny.layout" in refused.stdout + refused.stderr
    assert "line 3: well B02 is listed twice" in refused.stdout + refused.stderr


def test_a_screen_of_two_plates_gets_one_summary_and_side_by_side_heatmaps(tmp_path, tiny_plate):
    import shutil

    second = tmp_path / "second.zarr"
    shutil.copytree(tiny_plate, second)
    config = make_config(tiny_plate, pipeline=count_pipeline(), wells=["B02", "B03"])
    config["plates"]["other"] = {"path": str(second), "format": "ome-zarr"}
    write_config(tmp_path, config)
    run_snakemake(tmp_path)
    screen = tmp_path / "results" / "screen"
    summary = pd.read_csv(screen / "summary.csv")
    assert set(summary["plate"]) == {"tiny", "other"}
    means = summary[(summary["measurement"] == "count_mean") & (summary["channel"] == "nuclei")]
    per_plate = means.pivot(index="well", columns="plate", values="value")
    assert (per_plate["tiny"] == per_plate["other"]).all()  # the same images, the same counts
    assert (screen / "heatmaps" / "count.nuclei.count_mean.png").is_file()


def test_flagged_fields_are_listed_and_left_out_of_the_summary(tmp_path):
    from hcs_steps.plate import write_plate_metadata, write_well

    plate = tmp_path / "fields.zarr"
    good = cells_plane(9, seed=1)
    saturated = cells_plane(30, seed=2)
    saturated[:, : SIZE // 2] = 65535  # half the field at the camera's maximum
    for well in ("B02", "B03"):
        data = np.stack([good[None, None], saturated[None, None]])  # 2 fields, 1 ch, 1 z
        write_well(plate, well, data, channel_names=["DAPI"])
    write_plate_metadata(plate, name="fields", wells=["B02", "B03"], channel_names=["DAPI"])
    pipeline = [
        {"name": "qc", "step": "field_qc", "params": {"saturated_max": 0.05}},
        *count_pipeline(),
    ]
    config = make_config(plate, pipeline=pipeline, qc={"exclude_flagged_fields": True})
    write_config(tmp_path, config)
    run_snakemake(tmp_path)
    tables = tmp_path / "results" / "tiny" / "tables"
    field_qc = pd.read_csv(tables / "field_qc.csv")
    assert field_qc.set_index(["well", "field"])["flagged"].to_dict() == {
        ("B02", 0): False, ("B02", 1): True, ("B03", 0): False, ("B03", 1): True,
    }  # fmt: skip
    assert set(field_qc.loc[field_qc["flagged"], "flag_reason"].str[:9]) == {"saturated"}
    summary = pd.read_csv(tables / "summary.csv").query("measurement == 'count_total'")
    assert summary.set_index("well")["value"].to_dict() == {"B02": 9, "B03": 9}  # field 0 only
    counts = pd.read_csv(tables / "counts.csv")
    assert set(counts["field"]) == {0, 1}  # the counts table keeps every field
