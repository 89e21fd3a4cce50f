"""grow_cells on real nuclei: propagation from shrunken seeds recovers the labelled objects."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage
from skimage.morphology import disk, erosion

import hcs_steps.steps as steps
from hcs_steps import samples
from hcs_steps.steps.matching import accuracy

grow = steps.get_step("grow_cells").implementations["numpy"]


@pytest.fixture(scope="module")
def seeds_and_stain():
    """Middle planes of the real nuclei stack, its true labels shrunk by 5 pixels as seeds."""
    truth = samples.nuclei_labels()[26:32]
    stain = samples.nuclei_stack()[26:32]
    seeds = np.stack([erosion(plane, disk(5)) for plane in truth])
    return seeds, stain, truth


def test_cells_grown_from_shrunken_nuclei_recover_the_true_objects(seeds_and_stain):
    seeds, stain, truth = seeds_and_stain
    _, grown = grow(seeds, objects="nuclei", stain="DAPI", channels={"DAPI": stain})
    cells = grown["labels"]
    assert accuracy(truth, cells)["f1"] >= 0.85
    # one id per cell, the nucleus' own: every seed pixel keeps its label
    np.testing.assert_array_equal(cells[seeds > 0], seeds[seeds > 0])
    assert set(np.unique(cells)) == set(np.unique(seeds))
    cytoplasm = grown["cytoplasm"]
    assert not cytoplasm[seeds > 0].any()
    np.testing.assert_array_equal(np.where(seeds > 0, seeds, cytoplasm), cells)


def test_no_cell_reaches_beyond_max_distance(seeds_and_stain):
    seeds, stain, _ = seeds_and_stain
    _, grown = grow(seeds, objects="nuclei", stain="DAPI", channels={"DAPI": stain}, max_distance=3)
    for nuclei, cells in zip(seeds, grown["labels"], strict=True):
        distance = ndimage.distance_transform_edt(nuclei == 0)
        assert distance[cells > 0].max() <= 3


def test_a_stain_the_step_does_not_read_is_refused_by_name(seeds_and_stain):
    seeds, stain, _ = seeds_and_stain
    with pytest.raises(ValueError, match="grow_cells.*'stain' names channel 'actin'"):
        grow(seeds, objects="nuclei", stain="actin", channels={"DAPI": stain})


def test_three_classes_grow_nuclei_into_the_dim_cytoplasm_around_them():
    """On real cells whose stain is bright in the nucleus and dim around it, two Otsu
    classes split nuclei from the rest (cells are their nuclei); three reach the cytoplasm."""
    count = steps.get_step("count_cells_single_channel").implementations["numpy"]
    frame = samples.cells_timelapse()[10, :256, 255:].astype(np.uint16)[None] * 257
    _, found = count(frame, detection_method="watershed", diameter=35, return_labels=True)
    nuclei = found["labels"]
    assert nuclei.max() >= 4
    areas = {}
    for classes in (2, 3):
        _, grown = grow(
            nuclei,
            objects="nuclei",
            stain="cells",
            channels={"cells": frame},
            threshold_classes=classes,
            smoothing_sigma=2.0,
        )
        areas[classes] = np.bincount(grown["labels"].ravel())[1:]
    nuclei_areas = np.bincount(nuclei.ravel())[1:]
    assert np.median(areas[2] / nuclei_areas) < 1.1
    assert np.median(areas[3] / nuclei_areas) > 1.5
    # the dim class is the cells' cytoplasm: well above the background it leaves out
    background = frame[0][grown["labels"][0] == 0]
    cytoplasm = frame[0][grown["cytoplasm"][0] > 0]
    assert np.median(cytoplasm) > 3 * np.median(background)


def test_threshold_classes_other_than_two_or_three_are_refused(seeds_and_stain):
    seeds, stain, _ = seeds_and_stain
    with pytest.raises(ValueError, match="'threshold_classes' must be 2 or 3"):
        grow(seeds, objects="nuclei", stain="DAPI", channels={"DAPI": stain}, threshold_classes=4)
