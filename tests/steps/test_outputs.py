"""Special-output schemas, non-3D input and bad parameters at call time."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from step_support import implemented_types, step_type_pairs, to_numpy

import hcs_steps.steps as steps
from hcs_steps.memory import detect_memory_type

OBJECT_COLUMNS = ["plane", "label", "y", "x", "area", "mean_intensity"]


def two_spots() -> np.ndarray:
    """Two planes: two bright squares, then nothing (a flat plane has no objects)."""
    stack = np.zeros((2, 64, 64), np.uint16)
    stack[0, 8:24, 8:24] = 900
    stack[0, 36:56, 30:50] = 700
    return stack


def check_tables(special, planes):
    counts, objects = special["counts"], special["objects"]
    assert isinstance(counts, pd.DataFrame) and list(counts.columns) == ["plane", "count"]
    assert counts["plane"].tolist() == list(range(planes))
    assert isinstance(objects, pd.DataFrame) and list(objects.columns) == OBJECT_COLUMNS
    assert counts["count"].sum() == len(objects)
    for column in ("plane", "label", "area"):
        assert pd.api.types.is_integer_dtype(objects[column])
    for column in ("y", "x", "mean_intensity"):
        assert pd.api.types.is_float_dtype(objects[column])


@pytest.mark.parametrize(
    "memory_type", implemented_types("count_cells_single_channel"), indirect=True
)
def test_counting_outputs(memory_type):
    count = steps.get_step("count_cells_single_channel").implementations[memory_type]
    stack = two_spots()
    out, special = count(stack, detection_method="threshold", smoothing_sigma=1.0)
    assert set(special) == {"counts", "objects"}
    assert detect_memory_type(out) is memory_type
    check_tables(special, planes=2)
    assert special["counts"]["count"].tolist() == [2, 0]
    objects = special["objects"].sort_values("label")
    np.testing.assert_allclose(objects[["y", "x"]], [[15.5, 15.5], [45.5, 39.5]], atol=0.5)
    np.testing.assert_allclose(objects["mean_intensity"], [900, 700], rtol=0.05)

    _, special = count(stack, detection_method="threshold", smoothing_sigma=1.0, return_labels=True)
    labels = special["labels"]
    assert detect_memory_type(labels) is memory_type
    labels = to_numpy(labels)
    assert labels.shape == stack.shape and np.issubdtype(labels.dtype, np.integer)
    assert sorted(np.unique(labels[0])) == [0, 1, 2] and not labels[1].any()


@pytest.mark.parametrize(
    "memory_type", implemented_types("count_cells_single_channel"), indirect=True
)
@pytest.mark.parametrize("method", ["blob_log", "blob_dog", "watershed"])
def test_every_counting_method_finds_both_spots(memory_type, method):
    count = steps.get_step("count_cells_single_channel").implementations[memory_type]
    _, special = count(
        two_spots(),
        detection_method=method,
        smoothing_sigma=1.0,
        min_distance=5,
        min_sigma=4.0,
        max_sigma=12.0,
        return_labels=True,
    )
    check_tables(special, planes=2)
    assert special["counts"]["count"].tolist() == [2, 0]
    assert to_numpy(special["labels"]).max() == 2


@pytest.mark.parametrize("memory_type", implemented_types("segment_nuclei"), indirect=True)
def test_segmentation_outputs(memory_type):
    segment = steps.get_step("segment_nuclei").implementations[memory_type]
    labels, special = segment(two_spots(), smoothing_sigma=1.0, min_distance=5)
    assert detect_memory_type(labels) is memory_type
    assert set(special) == {"counts", "objects", "labels"}
    assert special["labels"] is labels  # the step's objects, for the workflow
    check_tables(special, planes=2)
    areas = special["objects"].sort_values("label")["area"].tolist()
    assert areas[0] == pytest.approx(256, rel=0.1) and areas[1] == pytest.approx(400, rel=0.1)
    assert to_numpy(labels).max() == 2


def test_touching_nuclei_are_split_by_watershed_only():
    yy, xx = np.mgrid[:60, :90]
    stack = np.zeros((1, 60, 90), np.float32)
    for cx in (30, 58):  # two overlapping round nuclei
        stack[0] = np.maximum(stack[0], 1000 * np.exp(-((yy - 30) ** 2 + (xx - cx) ** 2) / 300))
    segment = steps.get_step("segment_nuclei").implementations["numpy"]
    watershed, _ = segment(stack, method="watershed", smoothing_sigma=1.0, min_distance=8)
    threshold, _ = segment(stack, method="threshold", smoothing_sigma=1.0)
    assert watershed.max() == 2 and threshold.max() == 1


ALL_STEPS = [step.name for step in steps.list_steps()]


@pytest.mark.parametrize(
    ("step", "memory_type"), step_type_pairs(ALL_STEPS), indirect=["memory_type"]
)
@pytest.mark.parametrize("shape", [(8, 8), (1, 2, 8, 8), (0, 8, 8)])
def test_non_3d_input_is_refused(step, memory_type, shape):
    function = steps.get_step(step).implementations[memory_type]
    with pytest.raises(ValueError, match=r"\[Z, Y, X\]"):
        function(np.zeros(shape, np.uint16))


BAD_CALLS = [
    ("tophat", {"selem_radius": -1}, "selem_radius"),
    ("median", {"radius": 0}, "radius"),
    ("gaussian", {"sigma": -2.0}, "sigma"),
    ("stack_percentile_normalize", {"low_percentile": 60, "high_percentile": 40}, "low_percentile"),
    ("count_cells_single_channel", {"detection_method": "cellpose"}, "detection_method"),
    ("segment_nuclei", {"min_distance": 0}, "min_distance"),
]


@pytest.mark.parametrize(
    ("step", "memory_type", "params", "parameter"),
    [
        pytest.param(step, *pair.values[1:], params, parameter, marks=pair.marks, id=pair.id)
        for step, params, parameter in BAD_CALLS
        for pair in step_type_pairs([step])
    ],
    indirect=["memory_type"],
)
def test_bad_parameters_are_refused_at_call_time(step, memory_type, params, parameter):
    function = steps.get_step(step).implementations[memory_type]
    with pytest.raises(ValueError, match=f"step '{step}': parameter '{parameter}'"):
        function(np.ones((1, 16, 16), np.uint16), **params)
