"""The guard: every library named in HCS_STEPS_TEST_BACKENDS must import and work."""

import os

import numpy as np
import pytest

from hcs_steps.memory import MemoryType, convert, detect_memory_type

REQUESTED = sorted(
    name.strip() for name in os.environ.get("HCS_STEPS_TEST_BACKENDS", "").split(",") if name
)


@pytest.mark.parametrize("name", REQUESTED or [pytest.param(None, marks=pytest.mark.skip)])
def test_requested_backend_imports_and_round_trips(name):
    assert name in {t.value for t in MemoryType} - {"unknown"}, (
        f"HCS_STEPS_TEST_BACKENDS names {name!r}, which is not a memory type"
    )
    stack = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    # No skipping here: a missing or broken library must fail the run that asked for it.
    converted = convert(stack, name)
    assert detect_memory_type(converted) is MemoryType(name)
    np.testing.assert_array_equal(np.asarray(convert(converted, "numpy")), stack)
