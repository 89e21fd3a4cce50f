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
