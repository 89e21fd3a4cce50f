"""The Python pipeline API gives what the Snakemake workflow writes, on the same wells."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from workflow_support import WELLS, make_config, numpy_pipeline, run_snakemake, write_config

from hcs_steps.plate import read_well
from hcs_steps.steps import unregister_step
from hcs_steps.workflow.pipeline import FunctionStep, Pipeline

pytestmark = pytest.mark.slow


def two_segment_pipeline() -> list[dict]:
    """torch normalize, then numpy smoothing and counting: two segments, one hand-over."""
    entries = numpy_pipeline()
    entries[0]["backend"] = "torch"
    return entries


def as_function_steps(entries) -> list[FunctionStep]:
    return [
        FunctionStep(
            func=entry["step"],
            name=entry["name"],
            backend=entry.get("backend"),
            channel=entry.get("channel", "all"),
            **entry.get("params", {}),
        )
        for entry in entries
    ]


def test_pipeline_api_equals_the_snakemake_workflow(tmp_path, tiny_plate):
    pytest.importorskip("torch")
    entries = two_segment_pipeline()
    write_config(tmp_path, make_config(tiny_plate, pipeline=entries, keep=["smooth"]))
    run_snakemake(tmp_path)

    pipeline = Pipeline(as_function_steps(entries), keep=["smooth"])
    assert [s.rule_name for s in pipeline.plan().segments] == [
        "segment_normalize",
        "segment_smooth_to_count",
    ]
    result = pipeline.run(str(tiny_plate))

    steps_dir = tmp_path / "results" / "tiny" / "steps"
    assert set(result.images) == {"normalize", "smooth", "count"}
    for name, per_well in result.images.items():
        assert list(per_well) == list(WELLS)
        for well, array in per_well.items():
            written = read_well(steps_dir / f"{name}.zarr", well)
            assert array.dtype == written.dtype
            np.testing.assert_array_equal(array, written)

    tables_dir = tmp_path / "results" / "tiny" / "tables" / "wells"
    for kind in ("counts", "objects"):
        workflow = pd.concat(
            [pd.read_parquet(tables_dir / well / f"{kind}.parquet") for well in WELLS],
            ignore_index=True,
        )
        assert len(workflow) > 0
        pd.testing.assert_frame_equal(result.tables[kind], workflow)


def test_decorated_functions_are_steps_too(tiny_plate):
    import hcs_steps.memory as memory

    @memory.numpy
    def invert(stack, *, maximum=65535):
        return maximum - stack

    pipeline = Pipeline([FunctionStep(func=invert, name="api_test_invert", maximum=60000)])
    try:
        result = pipeline.run(str(tiny_plate), wells=["B02"])
    finally:
        unregister_step("api_test_invert")  # registered by the FunctionStep
    original = read_well(tiny_plate, "B02")
    np.testing.assert_array_equal(result.images["api_test_invert"]["B02"], 60000 - original)
