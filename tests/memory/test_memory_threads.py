"""Decorated functions and conversions used from several threads at once."""

from concurrent.futures import ThreadPoolExecutor

import numpy as np
from memory_support import host_copy, sample

import hcs_steps.memory as memory
from hcs_steps.memory import convert, detect_memory_type


def test_concurrent_decorated_calls_keep_their_own_data(memory_type, target_memory_type):
    @getattr(memory, target_memory_type.value)
    def scale(stack, *, factor):
        return stack * factor

    inputs = [sample(dtype=np.float32) + k for k in range(8)]

    def job(k):
        with memory.use_device("cpu"):
            result = scale(convert(inputs[k], memory_type), factor=k + 1)
            assert memory.resolve_device() == "cpu"
        assert detect_memory_type(result) is target_memory_type
        return host_copy(result)

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(job, range(8)))
    for k, result in enumerate(results):
        np.testing.assert_array_equal(result, inputs[k] * (k + 1))
