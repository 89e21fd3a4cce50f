"""A library is declared once, by its adapter class; everything else is derived from it."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import yaml

from hcs_steps.memory import MemoryType
from hcs_steps.memory.adapters import adapter_classes

REPO = Path(__file__).resolve().parents[2]

# A seventh array library, written by the test: host arrays wrapping a numpy buffer.
TOY_LIBRARY = """
import numpy as np


class ToyArray:
    def __init__(self, data):
        self.data = np.array(data)

    shape = property(lambda self: self.data.shape)
    dtype = property(lambda self: self.data.dtype)

    def __getitem__(self, index):
        return ToyArray(self.data[index])

    def __add__(self, other):
        return ToyArray(self.data + other)
"""

# Its adapter: the only thing the test adds for the library, in the test's own process.
TOY_PROGRAM = """
import numpy as np
from hcs_steps.memory.adapters.base import Adapter


class ToyAdapter(Adapter):
    name = "toy"
    array_modules = ("toyarray",)
    array_class = ("toyarray", "ToyArray")
    module = "toyarray"
    package = "toyarray"
    extra = "toy"
    auto_rank_cpu = -1  # preferred over numpy for backend: auto without a GPU

    def device_of(self, x):
        return "cpu"

    def from_numpy(self, array, device):
        from toyarray import ToyArray

        return ToyArray(array)

    def to_numpy(self, x):
        return x.data

    def concatenate(self, parts):
        from toyarray import ToyArray

        return ToyArray(np.concatenate([p.data for p in parts]))


from toyarray import ToyArray
from hcs_steps.memory import (
    MemoryType, convert, detect_memory_type, memory_types, validate_memory_type,
)
from hcs_steps.steps import choose_implementation, register_step
import hcs_steps.memory as memory

stack = np.arange(24, dtype=np.float32).reshape(2, 3, 4)

# detection
toy = ToyArray(stack)
assert detect_memory_type(toy) is MemoryType.TOY is MemoryType("toy")
assert validate_memory_type(toy) == "toy"

# conversion, both ways and on to another library
assert type(convert(stack, "toy")) is ToyArray
np.testing.assert_array_equal(convert(toy, "numpy"), stack)
np.testing.assert_array_equal(convert(convert(toy, "torch"), "numpy"), stack)

# the generic decorator
@memory_types(input_type="toy")
def add_one(stack):
    assert type(stack) is ToyArray
    return stack + 1

result = add_one(stack)
assert type(result) is ToyArray and add_one.input_memory_type is MemoryType.TOY
np.testing.assert_array_equal(result.data, stack + 1)

# the step dispatcher
@register_step("toy_add_one")
@memory.numpy
def add_one_numpy(stack):
    return stack + 1

register_step("toy_add_one")(add_one)
assert choose_implementation("toy_add_one", "toy")[0] is MemoryType.TOY
assert choose_implementation("toy_add_one", gpu_available=False)[0] is MemoryType.TOY
assert choose_implementation("toy_add_one", "numpy")[0] is MemoryType.NUMPY
print("toy library works")
"""


def test_a_new_library_needs_only_its_adapter(tmp_path):
    (tmp_path / "toyarray.py").write_text(TOY_LIBRARY)
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(TOY_PROGRAM)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "toy library works"


def test_the_config_schemas_backend_enum_lists_every_library():
    schema = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())
    step = schema["properties"]["pipeline"]["items"]["properties"]
    assert step["backend"]["enum"] == ["auto", *(t.value for t in adapter_classes())]


def test_each_adapter_declares_its_memory_type():
    declared = [t for t in MemoryType if t is not MemoryType.UNKNOWN]
    assert list(adapter_classes()) == declared
    for memory_type, adapter_class in adapter_classes().items():
        assert adapter_class.memory_type is memory_type
        assert adapter_class.name == memory_type.value
