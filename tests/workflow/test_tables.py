"""Measurement tables and heatmaps."""

from __future__ import annotations

import pandas as pd

from hcs_steps.workflow import heatmap, tables


def counts_frame(well: str, counts) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "plane": range(len(counts)),
            "count": counts,
            "field": 0,
            "channel": "nuclei",
            "step": "count",
        }
    )


def test_well_tables_merge_into_plate_tables(tmp_path):
    paths = []
    for well, counts in [("B03", [1, 2]), ("B02", [3, 4])]:
        path = tmp_path / f"{well}.parquet"
        tables.write_table(counts_frame(well, counts), "counts", path, plate="p", well=well)
        paths.append(path)
    empty = tmp_path / "empty.parquet"
    tables.write_table(None, "counts", empty, plate="p", well="C01")
    merged = tables.read_tables([*paths, empty], "counts")
    assert merged.columns.tolist() == tables.KEY_COLUMNS + ["plane", "count"]
    assert merged["well"].tolist() == ["B03", "B03", "B02", "B02"]
    summary = tables.well_summary(merged, tables.empty_table("objects"))
    means = summary[summary["measurement"] == "count_mean"].set_index("well")["value"]
    assert means.to_dict() == {"B02": 3.5, "B03": 1.5}


def test_empty_tables_keep_their_columns(tmp_path):
    path = tmp_path / "none.parquet"
    tables.write_table(None, "objects", path, plate="p", well="A01")
    expected = tables.KEY_COLUMNS + tables.MEASUREMENT_COLUMNS["objects"]
    assert pd.read_parquet(path).columns.tolist() == expected
    assert tables.well_summary(tables.empty_table("counts"), tables.empty_table("objects")).empty


def test_heatmaps_one_png_per_measurement_in_each_layout(tmp_path):
    summary = pd.DataFrame(
        {
            "plate": "p",
            "well": ["B02", "C03"],
            "step": "count",
            "channel": "nuclei",
            "measurement": "count_mean",
            "value": [1.0, 2.0],
        }
    )
    for layout, shape in [("auto", (8, 12)), (384, (16, 24)), (1536, (32, 48))]:
        rows, columns = heatmap.layout_grid(["B02", "C03"], layout)
        assert (len(rows), len(columns)) == shape
        written = heatmap.write_heatmaps(
            summary, tmp_path / str(layout), plate_wells=["B02"], layout=layout
        )
        assert [p.name for p in written] == ["count.nuclei.count_mean.png"]
        assert written[0].read_bytes()[:4] == b"\x89PNG"
