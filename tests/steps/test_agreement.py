"""Every implementation against the numpy/scikit-image reference on real nuclei images.

Tolerances are the ones each step's docstring states.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest
from step_support import implemented_types, to_numpy

import hcs_steps.steps as steps
from hcs_steps.memory import MemoryType, detect_memory_type


def run(step, memory_type, stack, **params):
    """Run one implementation; check it returns its own library, then give numpy back."""
    function = steps.get_step(step).implementations[memory_type]
    result = function(stack, **params)
    array = result[0] if isinstance(result, tuple) else result
    assert detect_memory_type(array) is memory_type
    return to_numpy(array)


def reference(step, stack, **params):
    return run(step, MemoryType.NUMPY, stack, **params)


@pytest.mark.parametrize(
    "memory_type", implemented_types("stack_percentile_normalize"), indirect=True
)
@pytest.mark.parametrize(("low", "high"), [(1.0, 99.0), (0.5, 99.8)])
def test_normalize_agrees_and_finds_exact_percentiles(memory_type, nuclei_crop, low, high):
    params = dict(low_percentile=low, high_percentile=high, target_min=0, target_max=65535)
    expected = reference("stack_percentile_normalize", nuclei_crop, **params)
    out = run("stack_percentile_normalize", memory_type, nuclei_crop, **params)
    assert out.dtype == np.uint16 and out.shape == nuclei_crop.shape
    assert np.abs(out.astype(np.int32) - expected.astype(np.int32)).max() <= 1
    p_low, p_high = np.percentile(nuclei_crop, [low, high])
    inside = (nuclei_crop > p_low) & (nuclei_crop < p_high)
    assert out[nuclei_crop <= p_low].max() == 0 and out[nuclei_crop >= p_high].min() == 65535
    assert 0 < out[inside].min() and out[inside].max() < 65535


@pytest.mark.parametrize(
    "memory_type", implemented_types("stack_percentile_normalize"), indirect=True
)
def test_normalize_of_a_flat_stack_is_target_min(memory_type):
    flat = np.full((2, 4, 4), 7, np.uint16)
    out = run("stack_percentile_normalize", memory_type, flat, target_min=100.0)
    assert (out == 100).all()


@pytest.mark.parametrize("memory_type", implemented_types("tophat", reference=False), indirect=True)
@pytest.mark.parametrize(("radius", "factor"), [(50, 4), (15, 1), (11, 3)])
@pytest.mark.parametrize("dtype", [np.uint16, np.float32])
def test_tophat_equals_numpy(memory_type, nuclei_crop, radius, factor, dtype):
    stack = nuclei_crop[:2, :, :101].astype(dtype)  # 101: not a multiple of the factor
    params = dict(selem_radius=radius, downsample_factor=factor)
    expected = reference("tophat", stack, **params)
    out = run("tophat", memory_type, stack, **params)
    assert out.dtype == dtype
    np.testing.assert_array_equal(out, expected)


def test_tophat_reference_uses_a_disk_and_removes_the_background():
    from skimage.morphology import disk

    from hcs_steps.steps.morphology import disk_half_widths

    for radius in (1, 5, 13):
        rows = disk(radius).sum(axis=1)
        assert [2 * half + 1 for _, half in disk_half_widths(radius)] == rows.tolist()
    ramp = np.add.outer(np.arange(64), np.arange(64)).astype(np.uint16)[None] * 10
    spot = ramp.copy()
    spot[0, 30:34, 30:34] += 500
    out = steps.get_step("tophat").implementations[MemoryType.NUMPY](
        spot, selem_radius=8, downsample_factor=2
    )
    assert out[0, 30:34, 30:34].min() >= 450  # the spot survives
    assert np.median(out) <= 20  # the ramp is gone


@pytest.mark.parametrize(
    "memory_type", implemented_types("gaussian", reference=False), indirect=True
)
@pytest.mark.parametrize("sigma", [1.0, 3.5])
def test_gaussian_agrees(memory_type, nuclei_crop, sigma):
    expected = reference("gaussian", nuclei_crop, sigma=sigma)
    out = run("gaussian", memory_type, nuclei_crop, sigma=sigma)
    assert out.dtype == np.float32 and out.shape == nuclei_crop.shape
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-5 * nuclei_crop.max())


@pytest.mark.parametrize("memory_type", implemented_types("median", reference=False), indirect=True)
@pytest.mark.parametrize("radius", [1, 3])
def test_median_equals_numpy(memory_type, nuclei_crop, radius):
    expected = reference("median", nuclei_crop, radius=radius)
    out = run("median", memory_type, nuclei_crop, radius=radius)
    assert out.dtype == nuclei_crop.dtype
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("memory_type", implemented_types("max_projection"), indirect=True)
@pytest.mark.parametrize("dtype", [np.uint16, np.float32])
def test_projections_agree(memory_type, nuclei_crop, dtype):
    stack = nuclei_crop.astype(dtype)
    out = run("max_projection", memory_type, stack)
    assert out.shape == (1, *stack.shape[1:]) and out.dtype == dtype
    np.testing.assert_array_equal(out, stack.max(axis=0, keepdims=True))
    mean = run("mean_projection", memory_type, stack)
    assert mean.shape == (1, *stack.shape[1:]) and mean.dtype == np.float32
    np.testing.assert_allclose(mean, stack.mean(axis=0, keepdims=True), rtol=1e-5)


def _within_five_percent(counts, expected):
    allowed = np.maximum(1, np.ceil(0.05 * expected))
    return np.all(np.abs(counts - expected) <= allowed)


@pytest.mark.parametrize(
    "memory_type", implemented_types("segment_nuclei", reference=False), indirect=True
)
def test_segment_threshold_labels_equal_numpy(memory_type, nuclei_crop):
    params = dict(method="threshold", smoothing_sigma=2.0, min_area=30)
    expected = reference("segment_nuclei", nuclei_crop, **params)
    out = run("segment_nuclei", memory_type, nuclei_crop, **params)
    assert expected.max() > 3
    assert (out == expected).mean() > 0.999


@pytest.mark.parametrize(
    "memory_type", implemented_types("segment_nuclei", reference=False), indirect=True
)
def test_segment_watershed_counts_agree(memory_type, nuclei_crop, nuclei_projection):
    for stack in (nuclei_crop, nuclei_projection):
        expected = reference("segment_nuclei", stack)
        out = run("segment_nuclei", memory_type, stack)
        expected_counts = expected.reshape(len(stack), -1).max(axis=1)
        counts = out.reshape(len(stack), -1).max(axis=1)
        assert _within_five_percent(counts, expected_counts), (counts, expected_counts)
        assert ((out > 0) == (expected > 0)).mean() > 0.99


@pytest.mark.parametrize(
    "memory_type", implemented_types("count_cells_single_channel", reference=False), indirect=True
)
@pytest.mark.parametrize("method", ["threshold", "watershed", "blob_log", "blob_dog"])
def test_counting_agrees(memory_type, nuclei_projection, method):
    count = steps.get_step("count_cells_single_channel").implementations
    _, expected = count[MemoryType.NUMPY](nuclei_projection, detection_method=method)
    out, found = count[memory_type](nuclei_projection, detection_method=method)
    np.testing.assert_array_equal(to_numpy(out), nuclei_projection)  # passes through
    assert _within_five_percent(found["counts"]["count"], expected["counts"]["count"])


@pytest.mark.parametrize(
    "memory_type", implemented_types("count_cells_single_channel", reference=False), indirect=True
)
@pytest.mark.parametrize("method", ["blob_log", "blob_dog"])
def test_blobs_equal_scikit_image(memory_type, nuclei_crop, method):
    count = steps.get_step("count_cells_single_channel").implementations
    params = dict(detection_method=method, min_sigma=6.0, max_sigma=16.0, num_sigma=4)
    _, expected = count[MemoryType.NUMPY](nuclei_crop, **params)
    _, found = count[memory_type](nuclei_crop, **params)
    assert expected["counts"]["count"].min() >= 2
    columns = ["plane", "y", "x", "area"]
    np.testing.assert_allclose(
        found["objects"].sort_values(columns)[columns].to_numpy(),
        expected["objects"].sort_values(columns)[columns].to_numpy(),
    )


@pytest.mark.parametrize(
    ("step", "params"),
    [
        ("stack_percentile_normalize", {"low_percentile": 2.0, "high_percentile": 98.0}),
        ("tophat", {"selem_radius": 11, "downsample_factor": 3}),
        ("max_projection", {}),
        ("mean_projection", {}),
    ],
)
def test_cupy_code_with_numpy_standing_in(step, params, nuclei_crop, monkeypatch):
    """The cupy bodies run here with numpy/scipy in cupy's place (no GPU on CI): their logic,
    if not cupy itself, is checked against the reference on every run."""
    import types

    import scipy.ndimage

    fake_cupyx = types.ModuleType("cupyx")
    fake_cupyx.scipy = types.SimpleNamespace(ndimage=scipy.ndimage)
    monkeypatch.setitem(sys.modules, "cupy", np)
    monkeypatch.setitem(sys.modules, "cupyx", fake_cupyx)
    monkeypatch.setitem(sys.modules, "cupyx.scipy", fake_cupyx.scipy)
    monkeypatch.setitem(sys.modules, "cupyx.scipy.ndimage", scipy.ndimage)
    body = steps.get_step(step).implementations[MemoryType.CUPY].__wrapped__
    expected = reference(step, nuclei_crop, **params)
    out = body(nuclei_crop, **params)
    assert out.dtype == expected.dtype
    exact_but_rounding = 1 if step == "stack_percentile_normalize" else 0
    np.testing.assert_allclose(out, expected, rtol=1e-6, atol=exact_but_rounding)


@pytest.mark.parametrize(
    "memory_type", implemented_types("stack_percentile_normalize"), indirect=True
)
def test_normalize_is_exact_and_deterministic_beyond_torch_quantile_limit(memory_type):
    """torch.quantile refuses more than 2**24 elements; the sort-based percentiles do not."""
    rng = np.random.default_rng(7)
    stack = rng.integers(0, 60000, size=(1, 4097, 4097), dtype=np.uint16)  # > 2**24 values
    params = dict(low_percentile=0.5, high_percentile=99.5, target_min=0, target_max=1000)
    first = run("stack_percentile_normalize", memory_type, stack, **params)
    again = run("stack_percentile_normalize", memory_type, stack, **params)
    np.testing.assert_array_equal(first, again)
    low, high = np.percentile(stack, [0.5, 99.5])
    expected = np.clip((stack.astype(np.float64) - low) / (high - low), 0, 1) * 1000
    assert np.abs(first.astype(np.float64) - expected).max() <= 0.5 + 1e-3
