"""Objects found by one step and measured in every channel by a later one: plan and tables."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
from ngff_validation import check_labels_with_other_tools
from workflow_support import make_config, run_snakemake, write_config

from hcs_steps.plate import open_well, read_well
from hcs_steps.plate.labels import label_names
from hcs_steps.workflow import plan_cli
from hcs_steps.workflow.config import ConfigError, validate_config
from hcs_steps.workflow.pipeline import FunctionStep, Pipeline
from hcs_steps.workflow.plan import build_plan
from hcs_steps.workflow.run_segment import process_field, segment_session

KEYS = ["plate", "well", "field", "plane", "label"]


def nuclei_then_measure(count_backend="numpy", **count_params):
    return [
        {"name": "normalize", "step": "stack_percentile_normalize", "backend": "torch"},
        {
            "name": "nuclei",
            "step": "count_cells_single_channel",
            "backend": count_backend,
            "channel": ["nuclei"],
            "params": {"return_labels": True, "diameter": 40, **count_params},
        },
        {"name": "measure", "step": "measure_objects", "params": {"objects": "nuclei"}},
    ]


def planned(pipeline, **extra):
    config = {"plates": {"demo": {"format": "demo"}}, "pipeline": pipeline, **extra}
    return build_plan(validate_config(config))


@pytest.mark.parametrize("fuse", [True, False])
def test_the_measuring_step_runs_in_the_job_that_found_the_objects(fuse):
    plan = planned(nuclei_then_measure(count_backend="torch"), gpu=False, fuse=fuse)
    last = plan.segments[-1]
    assert [s.name for s in last.steps][-2:] == ["nuclei", "measure"]
    assert last.memory_type == "torch" and last.steps[-1].memory_type == "numpy"
    assert last.spec()["steps"][-1]["reads_channels"] is True
    text = plan_cli.format_plan(plan, {"gpu": False, "fuse": fuse, "gpu_resources": {}})
    assert "reads the objects of nuclei and every channel listed" in text


@pytest.mark.parametrize(
    ("pipeline", "key"),
    [
        (nuclei_then_measure(return_labels=False), r"pipeline\[1\]\.params\.return_labels"),
        (nuclei_then_measure()[::2], r"pipeline\[1\]\.params\.objects: 'nuclei' is not an"),
        (
            [{**step, "channel": "all"} for step in nuclei_then_measure()],
            r"pipeline\[1\]\.channel",
        ),
    ],
)
def test_objects_that_cannot_reach_the_step_are_a_config_error(pipeline, key):
    with pytest.raises(ConfigError, match=key):
        planned(pipeline, gpu=False)


def test_objects_from_another_job_are_a_config_error():
    pipeline = nuclei_then_measure()
    pipeline.insert(2, {"name": "smooth", "step": "gaussian", "backend": "jax"})
    with pytest.raises(ConfigError, match="'nuclei' runs in another job"):
        planned(pipeline, gpu=False)


def test_features_join_the_counting_objects_one_row_per_object():
    steps = [
        FunctionStep(func=entry["step"], name=entry["name"], **entry.get("params", {}))
        for entry in nuclei_then_measure()
    ]
    steps[1].channel = ["nuclei"]
    result = Pipeline(steps, backend="numpy").run({"format": "demo"}, wells=["B03"])
    features, objects = result.tables["features"], result.tables["objects"]
    assert len(features) == len(objects) > 20
    assert not features.duplicated(KEYS).any()
    joined = objects.merge(features, on=KEYS, validate="one_to_one")
    assert (joined["area"] == joined["nuclei_area"]).all()
    assert joined["mean_intensity"].to_numpy() == pytest.approx(joined["nuclei_mean_nuclei"])
    for channel in ("nuclei", "nuclear"):
        assert joined[f"nuclei_integrated_{channel}"].notna().all()
    summary = result.tables["feature_summary"]
    counts = result.tables["counts"].merge(summary, on=["plate", "well", "field", "plane"])
    assert (counts["count"] == counts["nuclei_count"]).all()


def test_nuclei_cells_and_cytoplasm_share_one_id_per_cell():
    entries = nuclei_then_measure()[:2] + [
        {
            "name": "cells",
            "step": "grow_cells",
            "params": {"objects": "nuclei", "stain": "nuclear"},
        },
        {"name": "measure_nuclei", "step": "measure_objects", "params": {"objects": "nuclei"}},
        {"name": "measure_cells", "step": "measure_objects", "params": {"objects": "cells"}},
        {
            "name": "measure_cytoplasm",
            "step": "measure_objects",
            "params": {"objects": "cells_cytoplasm"},
        },
    ]
    steps = [
        FunctionStep(func=e["step"], name=e["name"], channel=e.get("channel", "all"), **e["params"])
        if "params" in e
        else FunctionStep(func=e["step"], name=e["name"])
        for e in entries
    ]
    plan = Pipeline(steps, backend="numpy").describe()
    assert "reads the objects of cells_cytoplasm" in plan
    features = Pipeline(steps, backend="numpy").run({"format": "demo"}, wells=["B03"])
    table = features.tables["features"]
    by_object = {
        name: table[table["step"] == f"measure_{name}"].dropna(axis=1, how="all")
        for name in ("nuclei", "cells", "cytoplasm")
    }
    nuclei = by_object["nuclei"].merge(by_object["cells"], on=KEYS, validate="one_to_one")
    joined = nuclei.merge(by_object["cytoplasm"], on=KEYS, how="left")
    assert len(joined) == len(by_object["nuclei"]) > 20
    assert (joined["cells_area"] >= joined["nuclei_area"]).all()
    grown = joined["cells_area"] > joined["nuclei_area"]
    assert grown.any()
    expected = (joined["cells_area"] - joined["nuclei_area"])[grown]
    np.testing.assert_array_equal(joined.loc[grown, "cells_cytoplasm_area"], expected)


def nuclei_cells_cytoplasm(count_params=None) -> list[dict]:
    """count -> grow_cells -> measure each object set, on the tiny plate's channels."""
    return [
        {
            "name": "count",
            "step": "count_cells_single_channel",
            "backend": "numpy",
            "channel": ["nuclei"],
            "params": {
                "detection_method": "threshold",
                "min_area": 20,
                "return_labels": True,
                **(count_params or {}),
            },
        },
        {
            "name": "cells",
            "step": "grow_cells",
            "params": {"objects": "count", "stain": "membrane", "max_distance": 3},
        },
        *(
            {"name": f"measure_{name}", "step": "measure_objects", "params": {"objects": objects}}
            for name, objects in (
                ("nuclei", "count"),
                ("cells", "cells"),
                ("cytoplasm", "cells_cytoplasm"),
            )
        ),
    ]


def in_memory_objects(spec: dict, plate, well: str) -> list[dict[str, np.ndarray]]:
    """The objects a segment finds in each field of ``well``, without writing anything."""
    channel_names = ["nuclei", "membrane"]
    source = open_well(plate, well, channels=channel_names)
    logger = logging.getLogger("test")
    tables = {"counts": [], "objects": [], "features": [], "feature_summary": []}
    with segment_session(spec, well=well, logger=logger) as (device, implementations):
        return [
            process_field(
                source.read, f, spec, channel_names, device, implementations, tables, logger
            )[1]
            for f in range(source.shape[0])
        ]


@pytest.mark.slow
def test_the_workflow_writes_each_field_objects_as_labels_of_its_result(
    tmp_path, tiny_plate, validate_plate
):
    pipeline = [
        {"name": "normalize", "step": "stack_percentile_normalize", "backend": "numpy"},
        *nuclei_cells_cytoplasm(),
        {"name": "smooth", "step": "gaussian", "backend": "numpy", "params": {"sigma": 1.0}},
    ]
    config = make_config(tiny_plate, pipeline, fuse=False, gpu=False)
    write_config(tmp_path, config)
    run_snakemake(tmp_path)
    steps = tmp_path / "results" / "tiny" / "steps"
    spec = build_plan(validate_config(config)).segments[1].spec()
    assert spec["written"] == ["count"]
    validate_plate(steps / "count.zarr", wells=3, field_count=1)
    features = pd.read_csv(tmp_path / "results" / "tiny" / "tables" / "features.csv")
    for well in ("B02", "B03", "C02"):
        expected = in_memory_objects(spec, steps / "normalize.zarr", well)
        field_dir = steps / "count.zarr" / well[0] / well[1:] / "0"
        assert sorted(expected[0]) == ["cells", "cells_cytoplasm", "count"]
        check_labels_with_other_tools(field_dir, expected[0])
        # The table's nuclei are the label image's: same ids, same areas, plane by plane.
        nuclei = features.query("well == @well and step == 'measure_nuclei'")
        labels = expected[0]["count"]
        areas = {
            (plane, value): area
            for plane in range(labels.shape[0])
            for value, area in zip(*np.unique(labels[plane], return_counts=True), strict=True)
            if value
        }
        assert len(nuclei) == len(areas) > 0
        for row in nuclei.itertuples():
            assert areas[(row.plane, row.label)] == row.count_area
    # The labels are not channels: the next step read (and wrote) the two image channels.
    smoothed = read_well(steps / "smooth.zarr", "B03")
    assert smoothed.shape == read_well(steps / "count.zarr", "B03").shape == (1, 2, 3, 64, 64)
    assert label_names(steps / "smooth.zarr" / "B" / "03" / "0") == []


@pytest.mark.slow
def test_features_of_nuclei_cells_and_cytoplasm_join_per_object(tmp_path, tiny_plate):
    config = make_config(tiny_plate, nuclei_cells_cytoplasm(), gpu=False)
    write_config(tmp_path, config)
    run_snakemake(tmp_path)
    features = pd.read_csv(tmp_path / "results" / "tiny" / "tables" / "features.csv")
    keys = ["plate", "well", "field", "plane", "label"]
    by_object = {
        name: features[features["step"] == f"measure_{name}"].dropna(axis=1, how="all")
        for name in ("nuclei", "cells", "cytoplasm")
    }
    joined = by_object["nuclei"].merge(by_object["cells"], on=keys, validate="one_to_one")
    joined = joined.merge(by_object["cytoplasm"], on=keys, how="left", validate="one_to_one")
    assert len(joined) == len(by_object["nuclei"]) > 0
    for objects in ("count", "cells", "cells_cytoplasm"):
        for channel in ("nuclei", "membrane"):
            assert f"{objects}_mean_{channel}" in joined.columns
    assert (joined["cells_area"] >= joined["count_area"]).all()
    with_cytoplasm = joined["cells_cytoplasm_area"].notna()
    assert with_cytoplasm.any()
    np.testing.assert_array_equal(
        joined.loc[with_cytoplasm, "cells_cytoplasm_area"],
        (joined["cells_area"] - joined["count_area"])[with_cytoplasm],
    )


def test_segmented_nuclei_are_the_result_plate_labels_and_the_measured_objects(
    tmp_path, tiny_plate
):
    from hcs_steps.plate.labels import read_field_labels
    from hcs_steps.workflow.run_segment import run_segment

    pipeline = [
        {
            "name": "segment",
            "step": "segment_nuclei",
            "backend": "numpy",
            "channel": ["nuclei"],
            "params": {"method": "threshold", "min_area": 20},
        },
        {"name": "measure", "step": "measure_objects", "params": {"objects": "segment"}},
    ]
    spec = planned(pipeline, gpu=False).segments[0].spec()
    output = tmp_path / "segment.zarr"
    tables = {kind: str(tmp_path / f"{kind}.parquet") for kind in ("features", "counts")}
    run_segment(
        spec,
        plate="tiny",
        well="C02",
        input_plate=str(tiny_plate),
        output_plates={"segment": str(output)},
        measurements=tables,
        channel_names=["nuclei", "membrane"],
    )
    image = read_well(output, "C02")[0]
    labels = read_field_labels(output / "C" / "02" / "0")
    assert list(labels) == ["segment"]
    # segment_nuclei's output channel is its labels; the labels image holds the same ids.
    np.testing.assert_array_equal(labels["segment"], image[0])
    features = pd.read_parquet(tables["features"])
    assert len(features) == sum(np.count_nonzero(np.unique(p)) for p in labels["segment"])
    assert len(features) == 3 * 8  # C02 has 8 disks in each of its 3 planes


def test_the_plan_shows_which_steps_give_objects_and_which_plate_holds_their_labels():
    pipeline = nuclei_cells_cytoplasm()
    pipeline.insert(0, {"name": "sharp", "step": "segment_nuclei", "channel": ["membrane"]})
    pipeline.insert(
        0, {"name": "plain", "step": "count_cells_single_channel", "channel": ["nuclei"]}
    )
    plan = planned(pipeline, gpu=False, fuse=True)
    assert {step.name: step.objects for step in plan.steps} == {
        "plain": (),
        "sharp": ("sharp",),
        "count": ("count",),
        "cells": ("cells", "cells_cytoplasm"),
        "measure_nuclei": (),
        "measure_cells": (),
        "measure_cytoplasm": (),
    }
    text = plan_cli.format_plan(plan, {"gpu": False, "fuse": True, "gpu_resources": {}})
    assert "grow_cells as numpy on cpu" in text
    assert "gives objects cells, cells_cytoplasm" in text
    assert "writes count (with each field's labels sharp, count, cells, cells_cytoplasm)" in text


def test_a_projection_after_objects_in_the_same_job_is_a_config_error():
    pipeline = nuclei_cells_cytoplasm()[:1] + [{"name": "project", "step": "max_projection"}]
    pipeline[1]["backend"] = "numpy"
    with pytest.raises(ConfigError, match=r"pipeline\[1\]: 'project' .* after 'count' gave"):
        planned(pipeline, gpu=False)
    # in a job of its own, the projection reads the counted plate, labels and all
    plan = planned(pipeline, gpu=False, fuse=False)
    assert [segment.written for segment in plan.segments] == [("count",), ("project",)]


def test_the_pipeline_api_gives_each_object_set_as_labels_per_well(tiny_plate):
    steps = [
        FunctionStep(func=e["step"], name=e["name"], channel=e.get("channel", "all"), **e["params"])
        for e in nuclei_cells_cytoplasm()
    ]
    for step in steps:
        step.backend = "numpy"
    result = Pipeline(steps).run(str(tiny_plate), wells=["B03", "C02"])
    assert sorted(result.labels) == ["cells", "cells_cytoplasm", "count"]
    features = result.tables["features"]
    for well in ("B03", "C02"):
        cells = result.labels["cells"][well]
        assert cells.shape == (1, 3, 64, 64) and cells.dtype.kind in "iu"
        nuclei = result.labels["count"][well]
        np.testing.assert_array_equal(cells[nuclei > 0], nuclei[nuclei > 0])
        table = features.query("well == @well and step == 'measure_cells'")
        areas = [np.bincount(cells[0, row.plane].ravel())[row.label] for row in table.itertuples()]
        assert areas == table["cells_area"].tolist() and len(areas) > 0
