"""Detection without imports, and the promise that numpy work stays light."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest
from memory_support import sample

from hcs_steps.memory import MemoryType, convert, detect_memory_type, validate_memory_type
from hcs_steps.memory.types import _cache

HEAVY = ("torch", "jax", "jaxlib", "tensorflow", "cupy", "pyclesperanto")


def test_every_library_is_detected(memory_type):
    assert detect_memory_type(convert(sample(), memory_type)) is memory_type
    assert validate_memory_type(convert(sample(), memory_type)) is memory_type


class Subclassed(np.ndarray):
    pass


@pytest.mark.parametrize(
    "array",
    [np.zeros(3).view(Subclassed), np.ma.masked_array([1, 2]), np.zeros((0, 0, 0))],
    ids=["user-subclass", "masked", "empty"],
)
def test_numpy_subclasses_are_numpy(array):
    assert detect_memory_type(array) is MemoryType.NUMPY


def test_memmaps_are_numpy(tmp_path):
    mapped = np.lib.format.open_memmap(tmp_path / "a.npy", mode="w+", shape=(2, 2, 2))
    assert detect_memory_type(mapped) is MemoryType.NUMPY


@pytest.mark.parametrize(
    "value", [[1.0], (1, 2), "x", 1.5, None, np.float32(2.0), memoryview(b"ab")]
)
def test_non_arrays_are_unknown(value):
    assert detect_memory_type(value) is MemoryType.UNKNOWN
    with pytest.raises(TypeError, match="expected an array of numpy, cupy, torch"):
        validate_memory_type(value)


def test_library_objects_that_are_not_arrays_are_unknown():
    torch = pytest.importorskip("torch")
    assert detect_memory_type(torch.Size([1, 2])) is MemoryType.UNKNOWN
    assert detect_memory_type(torch.float32) is MemoryType.UNKNOWN


def test_answers_are_cached_per_class():
    detect_memory_type(Subclassed((1,)))
    assert _cache[Subclassed] is MemoryType.NUMPY


def test_memory_type_is_a_str_enum():
    assert MemoryType.TORCH == "torch"
    assert MemoryType("pyclesperanto") is MemoryType.PYCLESPERANTO
    assert {t.value for t in MemoryType} == {
        "numpy",
        "cupy",
        "torch",
        "tensorflow",
        "jax",
        "pyclesperanto",
        "unknown",
    }


def test_numpy_work_imports_no_other_array_library():
    script = textwrap.dedent(
        f"""
        import sys
        import numpy as np
        import hcs_steps
        import hcs_steps.memory as memory
        from hcs_steps.memory import convert, detect_memory_type, validate_memory_type

        @memory.numpy
        def double(stack):
            return stack * 2

        stack = np.ones((2, 3, 4), np.float32)
        assert detect_memory_type(stack) == "numpy"
        assert validate_memory_type(stack) == "numpy"
        assert detect_memory_type([1]) == "unknown"
        assert convert(stack, "numpy") is stack
        assert double(stack).sum() == 48
        assert memory.device_of(stack) == "cpu"
        loaded = sorted(name for name in {HEAVY!r} if name in sys.modules)
        assert not loaded, loaded
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
