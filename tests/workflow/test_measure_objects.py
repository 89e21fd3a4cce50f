"""Objects found by one step and measured in every channel by a later one: plan and tables."""

from __future__ import annotations

import numpy as np
import pytest

from hcs_steps.workflow import plan_cli
from hcs_steps.workflow.config import ConfigError, validate_config
from hcs_steps.workflow.pipeline import FunctionStep, Pipeline
from hcs_steps.workflow.plan import build_plan

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
