"""The diameter parameter and its estimate, and the defaults' accuracy on ground truth."""

from __future__ import annotations

import numpy as np
import pytest
from step_support import to_numpy

import hcs_steps.steps as steps
from hcs_steps import samples
from hcs_steps.steps import sizes
from hcs_steps.steps.matching import accuracy


def planes_with_most_objects(image, labels):
    per_plane = np.array([len(np.unique(plane)) - 1 for plane in labels])
    keep = per_plane >= per_plane.max() / 2
    return image[keep], labels[keep]


GROUND_TRUTH = {
    "dsb2018_2d": samples.stardist_nuclei_2d,
    "stardist_3d": lambda: planes_with_most_objects(*samples.stardist_nuclei_3d()),
    "cells3d": lambda: planes_with_most_objects(samples.nuclei_stack(), samples.nuclei_labels()),
}


def true_diameter(labels):
    areas = np.concatenate([np.bincount(plane.ravel())[1:] for plane in labels])
    return 2 * np.sqrt(np.median(areas[areas > 0]) / np.pi)


@pytest.mark.parametrize("name", GROUND_TRUTH)
def test_the_estimate_is_near_the_true_median_diameter(name):
    image, labels = GROUND_TRUTH[name]()
    estimate = sizes.estimate_diameter_numpy(image)
    assert estimate == pytest.approx(true_diameter(labels), rel=0.2)


@pytest.mark.parametrize("name", GROUND_TRUTH)
def test_defaults_find_most_nuclei_of_every_source(name):
    """No per-set tuning: the defaults, diameter estimated; the former fixed lengths found
    41% to 81% of these at IoU 0.5 (benchmarks/counting_accuracy.py)."""
    image, labels = GROUND_TRUTH[name]()
    found, _ = steps.get_step("segment_nuclei").implementations["numpy"](image)
    result = accuracy(labels, found)
    assert result["f1"] >= 0.65 and abs(result["count_error_percent"]) <= 25, result


@pytest.mark.parametrize("memory_type", ["torch"], indirect=True)
def test_torch_estimate_and_segmentation_agree_with_numpy(memory_type):
    image, labels = samples.stardist_nuclei_2d()
    assert sizes.estimate_diameter_torch(_as_torch(image)) == pytest.approx(
        sizes.estimate_diameter_numpy(image), rel=0.02
    )
    segment = steps.get_step("segment_nuclei").implementations
    expected, _ = segment["numpy"](image)
    found, _ = segment["torch"](image)
    found = to_numpy(found)
    assert abs(int(found.max()) - int(expected.max())) <= max(1, 0.05 * expected.max())
    assert accuracy(labels, found)["f1"] == pytest.approx(
        accuracy(labels, expected)["f1"], abs=0.03
    )


def _as_torch(array):
    from hcs_steps.memory import convert

    return convert(array, "torch")


def test_an_explicit_length_overrides_its_derived_value():
    image, _ = samples.stardist_nuclei_2d()
    segment = steps.get_step("segment_nuclei").implementations["numpy"]
    by_diameter, _ = segment(image, diameter=22)
    derived = sizes.derived_parameters(22)
    explicit, _ = segment(image, **{k: derived[k] for k in sizes.SIZE_PARAMETERS[:4]})
    np.testing.assert_array_equal(by_diameter, explicit)
    larger, _ = segment(image, diameter=22, min_area=400)
    assert 0 < larger.max() < by_diameter.max()


def test_counting_takes_the_same_diameter():
    image, labels = samples.stardist_nuclei_2d()
    count = steps.get_step("count_cells_single_channel").implementations["numpy"]
    _, special = count(image, diameter=22, return_labels=True)
    segmented, _ = steps.get_step("segment_nuclei").implementations["numpy"](image, diameter=22)
    np.testing.assert_array_equal(special["labels"], segmented)
    _, blobs = count(image, detection_method="blob_log", diameter=22)
    # Blobs are painted as disks (cut by the border and by each other): their typical radius
    # lies in the searched scales, half the diameter within a factor 1.5.
    radius = np.sqrt(blobs["objects"]["area"].median() / np.pi)
    assert len(blobs["objects"]) > 40 and 11 / 1.5 <= radius <= 11 * 1.5


def test_a_bad_diameter_is_refused_by_name():
    with pytest.raises(ValueError, match="step 'segment_nuclei': parameter 'diameter'"):
        steps.validate_parameters("segment_nuclei", {"diameter": -4})
