"""The demo pipeline's torch and numpy steps work in about their output's memory.

Each step runs once in a fresh process on a stack of many planes; the kernel's high-water
mark of the process's resident memory (``VmHWM``, reset through ``/proc/self/clear_refs``)
says what it allocated, torch buffers included (tracemalloc sees only numpy's). A step
that sorts or copies the whole stack in a wider type (the old torch normalize: an ``int64``
sort, 24 bytes per 2-byte pixel; the old torch top-hat: ``float32`` copies and one
row-wise pass per disk row, about 20 times the stack) cannot stay under the bound.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import hcs_steps.steps as steps
from hcs_steps.memory import MemoryType, convert

PLANES, SIZE = 32, 256
STACK_BYTES = PLANES * SIZE * SIZE * 2  # uint16: 4 MiB
CASES = [
    ("stack_percentile_normalize", "torch", {"low_percentile": 1.0, "high_percentile": 99.8}),
    ("stack_percentile_normalize", "numpy", {"low_percentile": 1.0, "high_percentile": 99.8}),
    ("tophat", "torch", {"selem_radius": 30, "downsample_factor": 2}),
    ("tophat", "numpy", {"selem_radius": 30, "downsample_factor": 2}),
]

PROBE = """
import json, sys
from pathlib import Path
import numpy as np
import hcs_steps.steps as steps
from hcs_steps.memory import MemoryType, convert

def status(key):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024

step, backend, params, planes, size = json.loads(sys.argv[1])
function = steps.get_step(step).implementations[MemoryType(backend)]
rng = np.random.default_rng(0)
function(convert(rng.integers(0, 4000, (2, 40, 40), dtype=np.uint16), MemoryType(backend)),
         **params)  # imports and first-call caches are not the step's memory
stack = convert(rng.integers(0, 4000, (planes, size, size), dtype=np.uint16), MemoryType(backend))
Path("/proc/self/clear_refs").write_text("5")
start = status("VmRSS")
out = function(stack, **params)
print(json.dumps(status("VmHWM") - start))
"""


def peak_of_step(step: str, backend: str, params: dict) -> int:
    pytest.importorskip(backend)
    argument = json.dumps([step, backend, params, PLANES, SIZE])
    # glibc's dynamic mmap threshold lets freed scratch buffers stay resident as heap holes
    # that the next buffers may or may not reuse: the same step peaked at 2.5-3.0 x from
    # run to run. A fixed threshold (glibc's initial 128 KiB) maps every buffer above it
    # and unmaps it when freed, so the peak is what the step holds at once.
    env = {
        **os.environ,
        "HCS_STEPS_VISIBLE_GPUS": "",
        "OMP_NUM_THREADS": "1",
        "MALLOC_MMAP_THRESHOLD_": "131072",
    }
    result = subprocess.run(
        [sys.executable, "-c", PROBE, argument], capture_output=True, text=True, env=env
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux /proc")
@pytest.mark.parametrize(
    ("step", "backend", "params"), CASES, ids=[f"{s}-{b}" for s, b, _ in CASES]
)
def test_a_step_peaks_at_about_its_output(step, backend, params):
    peak = peak_of_step(step, backend, params)
    # Measured 1.1-2.4 x: the uint16 output and a few planes' (or a 4 MiB histogram
    # chunk's) scratch; the old torch steps took 20 x.
    assert peak < 3 * STACK_BYTES, (step, backend, peak / STACK_BYTES)


@pytest.mark.parametrize(
    ("step", "backend", "params"), CASES, ids=[f"{s}-{b}" for s, b, _ in CASES]
)
def test_a_step_leaves_its_input_unchanged(step, backend, params):
    """Plane-wise in-place work must happen on copies: a float32 plane converted to float32
    is the input itself."""
    pytest.importorskip(backend)
    rng = np.random.default_rng(1)
    for dtype in (np.uint16, np.float32):
        original = rng.integers(0, 4000, (3, 37, 41)).astype(dtype)
        stack = convert(original.copy(), MemoryType(backend))
        steps.get_step(step).implementations[MemoryType(backend)](stack, **params)
        np.testing.assert_array_equal(np.asarray(convert(stack, MemoryType.NUMPY)), original)


@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize(("radius", "factor"), [(30, 2), (11, 3), (5, 1)])
def test_tophat_in_one_piece_equals_tophat_in_bands_of_rows(monkeypatch, backend, radius, factor):
    """The bands and plane groups of :data:`SCRATCH_PIXELS` change no value: with a budget of
    300 pixels every plane goes alone and every band is a row or two."""
    from hcs_steps.steps import morphology

    pytest.importorskip(backend)
    stack = np.random.default_rng(2).integers(0, 4000, (5, 67, 101)).astype(np.uint16)
    function = steps.get_step("tophat").implementations[MemoryType(backend)]
    params = {"selem_radius": radius, "downsample_factor": factor}
    whole = np.asarray(convert(function(stack, **params), MemoryType.NUMPY))
    monkeypatch.setattr(morphology, "SCRATCH_PIXELS", 300)
    banded = np.asarray(convert(function(stack, **params), MemoryType.NUMPY))
    np.testing.assert_array_equal(banded, whole)


COUNT_PROBE = """
import json, sys
from pathlib import Path
import hcs_steps.steps as steps
from hcs_steps.memory import MemoryType
from hcs_steps.plate.synthetic import synthetic_well

def status(key):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024

size, params = json.loads(sys.argv[1])
count = steps.get_step("count_cells_single_channel").implementations[MemoryType.NUMPY]
small, _ = synthetic_well("A01", z=1, y=96, x=96, objects_per_field=(5, 5))
count(small[0, 0], **params)  # imports and first-call caches are not the step's memory
data, truth = synthetic_well("A01", z=1, y=size, x=size, objects_per_field=(300, 300), seed=3)
Path("/proc/self/clear_refs").write_text("5")
start = status("VmRSS")
_, special = count(data[0, 0], **params)
peak = status("VmHWM") - start
print(json.dumps([peak, data[0, 0].nbytes, special["counts"]["count"].tolist()]))
"""


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux /proc")
def test_the_numpy_watershed_count_peaks_at_a_few_planes():
    params = {"detection_method": "watershed", "diameter": 30, "return_labels": True}
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, "-c", COUNT_PROBE, json.dumps([1024, params])],
        capture_output=True,
        text=True,
        env=env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    peak, plane, counts = json.loads(result.stdout.strip().splitlines()[-1])
    assert counts == [300]
    # Measured 6.2 x the uint16 plane: its float32 smoothings, the int32 markers,
    # components and labels. One watershed call on the plane made it 16.9 x (its float64
    # and padded copies), and whole-plane np.unique and bincount weights as much again.
    assert peak < 10 * plane, peak / plane


def test_watershed_by_component_equals_one_watershed_of_the_plane():
    from scipy import ndimage
    from skimage.measure import label
    from skimage.segmentation import watershed

    from hcs_steps.plate.synthetic import synthetic_well
    from hcs_steps.steps.segmentation import _watershed_by_component

    data, _ = synthetic_well("A01", z=1, y=300, x=280, objects_per_field=(25, 25), seed=4)
    noisy = data[0, 0, 0] + np.random.default_rng(4).integers(0, 200, data.shape[-2:])
    basins = -ndimage.gaussian_filter(noisy.astype(np.float32), 3)
    foreground = basins < np.median(basins)
    peaks = (basins == ndimage.minimum_filter(basins, 9)) & foreground
    markers = label(peaks, connectivity=2).astype(np.int32)
    whole = watershed(basins, markers, mask=foreground, connectivity=2)
    assert len(np.unique(label(foreground, connectivity=2))) > 10  # many components
    np.testing.assert_array_equal(_watershed_by_component(basins, markers, foreground), whole)


@pytest.mark.parametrize("intensity", [np.uint16, np.float32])
def test_counting_in_bands_of_rows_equals_counting_in_one_piece(monkeypatch, intensity):
    """The row bands of :data:`BAND_PIXELS` (labels' renumbering, per-object sums) change
    no value: with a budget of 300 pixels each band is a row or a few."""
    from hcs_steps.plate.synthetic import synthetic_well
    from hcs_steps.steps import measure

    data, _ = synthetic_well("A01", z=2, y=150, x=131, objects_per_field=(30, 30), seed=5)
    stack = data[0, 0].astype(intensity) * intensity(1.37)
    count = steps.get_step("count_cells_single_channel").implementations[MemoryType.NUMPY]
    params = {"detection_method": "watershed", "diameter": 16, "return_labels": True}
    monkeypatch.setattr(measure, "BAND_PIXELS", 1 << 40)
    _, whole = count(stack, **params)
    monkeypatch.setattr(measure, "BAND_PIXELS", 300)
    _, banded = count(stack, **params)
    np.testing.assert_array_equal(banded["labels"], whole["labels"])
    assert int(whole["labels"].max()) > 10
    for kind in ("counts", "objects"):
        assert banded[kind].equals(whole[kind]), kind
