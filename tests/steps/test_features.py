"""measure_objects against scikit-image's own per-region properties, on real nuclei."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

import hcs_steps.steps as steps
from hcs_steps import samples

measure = steps.get_step("measure_objects").implementations["numpy"]


@pytest.fixture(scope="module")
def labelled_planes():
    """Three planes of the real nuclei stack, their true labels and a second channel."""
    image = samples.nuclei_stack()[28:31].astype(np.float64)
    labels = samples.nuclei_labels()[28:31]
    blurred = ndimage.gaussian_filter(image, (0, 3, 3))
    return labels, {"DAPI": image, "blur": blurred}


def test_every_feature_equals_regionprops_of_each_object(labelled_planes):
    from skimage.measure import regionprops

    labels, channels = labelled_planes
    _, tables = measure(labels, objects="nuclei", channels=channels)
    features = tables["features"]
    assert len(features) == sum(len(np.unique(p)) - 1 for p in labels) > 30
    for plane in range(len(labels)):
        rows = features[features["plane"] == plane].set_index("label")
        for region in regionprops(labels[plane]):
            row = rows.loc[region.label]
            expected = {
                "nuclei_area": region.area,
                "nuclei_perimeter": region.perimeter,
                "nuclei_eccentricity": region.eccentricity,
                "nuclei_solidity": region.solidity,
                "nuclei_major_axis": region.axis_major_length,
                "nuclei_minor_axis": region.axis_minor_length,
                "nuclei_form_factor": 4 * np.pi * region.area / region.perimeter**2,
                "nuclei_y": region.centroid[0],
                "nuclei_x": region.centroid[1],
            }
            for channel, stack in channels.items():
                values = stack[plane][labels[plane] == region.label]
                expected |= {
                    f"nuclei_mean_{channel}": values.mean(),
                    f"nuclei_median_{channel}": np.median(values),
                    f"nuclei_integrated_{channel}": values.sum(),
                    f"nuclei_min_{channel}": values.min(),
                    f"nuclei_max_{channel}": values.max(),
                    f"nuclei_std_{channel}": values.std(),
                }
            for column, value in expected.items():
                assert row[column] == pytest.approx(value, rel=1e-9), (plane, region.label, column)


def test_summary_counts_and_aggregates_each_plane(labelled_planes):
    labels, channels = labelled_planes
    empty = np.zeros_like(labels[:1])
    _, tables = measure(
        np.concatenate([labels, empty]),
        objects="nuclei",
        channels={c: np.concatenate([s, s[:1]]) for c, s in channels.items()},
    )
    summary, features = tables["feature_summary"], tables["features"]
    assert summary["plane"].tolist() == [0, 1, 2, 3]
    expected_counts = [len(np.unique(p)) - 1 for p in labels] + [0]
    assert summary["nuclei_count"].tolist() == expected_counts
    first = features[features["plane"] == 0]
    assert summary.loc[0, "nuclei_area_median"] == first["nuclei_area"].median()
    assert summary.loc[0, "nuclei_mean_blur_mean"] == pytest.approx(
        first["nuclei_mean_blur"].mean()
    )


def test_a_channel_of_another_shape_is_refused_by_name(labelled_planes):
    labels, channels = labelled_planes
    with pytest.raises(ValueError, match="measure_objects.*channel 'blur'"):
        measure(labels, objects="nuclei", channels={"blur": channels["blur"][:, :10]})


def test_channels_are_a_workflow_input_not_a_config_parameter():
    definition = steps.get_step("measure_objects")
    assert definition.reads_channels and list(definition.parameters) == ["objects"]
    with pytest.raises(ValueError, match="parameter 'objects'"):
        steps.validate_parameters("measure_objects", {"objects": ["a", "b"]})
