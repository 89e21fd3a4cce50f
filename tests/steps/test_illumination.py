"""flatfield_correct in every library it is implemented in, against the numpy reference."""

from __future__ import annotations

import numpy as np
import pytest
from step_support import implemented_types, to_numpy

import hcs_steps.steps as steps
from hcs_steps.memory import MemoryType, convert, detect_memory_type


def vignette(shape) -> np.ndarray:
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    profile = 0.4 + 0.6 * np.exp(-((yy - shape[0] / 3) ** 2 + (xx - shape[1] / 2) ** 2) / 4000)
    return (profile / profile.mean()).astype(np.float32)


@pytest.mark.parametrize(
    "memory_type", implemented_types("flatfield_correct", reference=False), indirect=True
)
def test_correction_agrees_with_numpy(memory_type, nuclei_crop):
    flat = vignette(nuclei_crop.shape[1:])
    dark = np.full_like(flat, 90.0)
    reference = steps.get_step("flatfield_correct").implementations[MemoryType.NUMPY]
    expected = reference(nuclei_crop, illumination=(flat, dark))
    function = steps.get_step("flatfield_correct").implementations[memory_type]
    pair = tuple(convert(plane, memory_type) for plane in (flat, dark))
    out = function(convert(nuclei_crop, memory_type), illumination=pair)
    assert detect_memory_type(out) is memory_type
    out = to_numpy(out)
    assert out.dtype == np.float32 and out.shape == nuclei_crop.shape
    np.testing.assert_allclose(out, expected, rtol=1e-6)
    # the reference is the formula: (stack - dark) / flat on every plane
    np.testing.assert_allclose(expected, (nuclei_crop - dark) / flat, rtol=1e-6)


def test_bad_parameters_are_refused_at_call_time(nuclei_crop):
    function = steps.get_step("flatfield_correct").implementations[MemoryType.NUMPY]
    flat = np.ones(nuclei_crop.shape[1:], np.float32)
    with pytest.raises(ValueError, match="step 'flatfield_correct': parameter 'fields'"):
        function(nuclei_crop, illumination=(flat, 0 * flat), fields=1)
