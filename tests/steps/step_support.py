"""Helpers for the step tests: per-step memory type parameters and host copies."""

from __future__ import annotations

import numpy as np
import pytest

import hcs_steps.steps as steps
from hcs_steps.memory import convert


def implemented_types(step: str, *, reference: bool = True) -> list:
    """The step's memory types as values for the ``memory_type`` fixture (indirect).

    cupy is marked ``gpu``; the fixture skips (or, when the run named it in
    ``HCS_STEPS_TEST_BACKENDS``, fails) a library that is not installed. With
    ``reference=False`` the numpy reference is left out: for tests that compare an
    implementation with it, where numpy against itself could not fail.
    """
    params = []
    for memory_type in steps.get_step(step).memory_types:
        if not reference and memory_type.value == "numpy":
            continue
        marks = [pytest.mark.gpu] if memory_type.value == "cupy" else []
        params.append(pytest.param(memory_type.value, marks=marks, id=memory_type.value))
    return params


def step_type_pairs(names) -> list:
    """``(step, memory_type)`` parameters for every implementation of the named steps."""
    pairs = []
    for name in names:
        for param in implemented_types(name):
            (value,) = param.values
            pairs.append(pytest.param(name, value, marks=param.marks, id=f"{name}-{value}"))
    return pairs


def to_numpy(array) -> np.ndarray:
    """A host copy of any library's array."""
    return np.asarray(convert(array, "numpy"))
