"""Plate layouts: read against the plate, every mistake refused naming file and line."""

from __future__ import annotations

import math

import pytest

from hcs_steps.screen.layout import LayoutError, read_layout

WELLS = ["B02", "B03", "B04", "C02", "C03", "C04"]


def layout_file(tmp_path, text):
    path = tmp_path / "layout.csv"
    path.write_text(text)
    return path


def test_a_layout_gives_every_plate_well_its_role_and_compound(tmp_path):
    path = layout_file(
        tmp_path,
        "well,condition,compound,concentration,role\n"
        "B02,ctrl,DMSO,,negative\nC2,kill,staurosporine,1.0,positive\nB03,,drugA,0.1,\n",
    )
    layout = read_layout(path, WELLS)
    assert layout["well"].tolist() == WELLS
    by_well = layout.set_index("well")
    assert by_well.loc["B02", "role"] == "negative"
    assert by_well.loc["C02", "role"] == "positive"  # C2 is C02
    assert (by_well.loc["B03", "role"], by_well.loc["B03", "concentration"]) == ("sample", 0.1)
    assert by_well.loc["C04", "role"] == "sample" and math.isnan(
        by_well.loc["C04", "concentration"]
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("well,role\nB02,negative\nH12,positive\n", r"line 3: well H12 is not on the plate"),
        ("well,role\nB02,negative\nB2,positive\n", r"line 3: well B02 is listed twice .*line 2"),
        ("well,role\nB02,control\n", r"line 2: role 'control' is not one of negative"),
        ("well,dose\nB02,1\n", r"line 1: unknown column\(s\) \['dose'\]"),
        ("role\nnegative\n", r"line 1: no 'well' column"),
        ("well,concentration\nB02,-1\n", r"line 2: concentration '-1' is not a number >= 0"),
        ("well,concentration\nB02,lots\n", r"line 2: concentration 'lots' is not a number"),
        ("well\n../B02\n", r"line 2: .*not a well name|line 2: "),
    ],
    ids=["unknown-well", "duplicate", "bad-role", "unknown-column", "no-well", "negative-dose",
         "text-dose", "path-as-well"],
)  # fmt: skip
def test_bad_layouts_are_refused_naming_the_line(tmp_path, text, message):
    path = layout_file(tmp_path, text)
    with pytest.raises(LayoutError, match=message) as error:
        read_layout(path, WELLS)
    assert str(path) in str(error.value)
