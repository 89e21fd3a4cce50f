"""Fixtures shared by every test: one ``memory_type`` per array library, and GPU skipping.

Set ``HCS_STEPS_TEST_BACKENDS=numpy,torch,...`` to turn a missing library from a skip
into a failure, so CI cannot pass by silently skipping a library.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys

import pytest

from hcs_steps.memory.adapters import adapter_classes

# Derived from the adapters, the one declaration of each library (cupy holds no host arrays).
HOST_TYPES = tuple(t.value for t, a in adapter_classes().items() if a.host_capable)
GPU_ONLY_TYPES = tuple(t.value for t, a in adapter_classes().items() if not a.host_capable)
BACKENDS_ENV = "HCS_STEPS_TEST_BACKENDS"


class _PyclesperantoBeforeTensorflow:
    """Import pyclesperanto before tensorflow, whoever imports tensorflow first.

    tensorflow exports its LLVM symbols globally and pyclesperanto's OpenCL (pocl)
    imported afterwards segfaults the process (tensorflow#119254); test modules that
    import tensorflow at the top would otherwise crash the whole run.
    """

    def __init__(self):
        self.done = False

    def find_spec(self, name, path=None, target=None):
        if name == "tensorflow" and not self.done:
            self.done = True
            if "pyclesperanto" not in sys.modules and importlib.util.find_spec("pyclesperanto"):
                from hcs_steps.memory.adapters import adapter_for

                # Through the adapter, which points OpenCL at pip's pocl when needed.
                try:
                    adapter_for("pyclesperanto").lib()
                except ImportError:  # no OpenCL device; the pyclesperanto tests say so
                    pass
        return None


sys.meta_path.insert(0, _PyclesperantoBeforeTensorflow())


def requested_backends() -> set[str]:
    """The libraries named in ``HCS_STEPS_TEST_BACKENDS``."""
    return {name.strip() for name in os.environ.get(BACKENDS_ENV, "").split(",") if name.strip()}


_unusable: dict[str, str | None] = {}


def require_backend(name: str):
    """Return the adapter of library ``name`` after checking that it imports and works.

    Skips the test when the library is missing or cannot hold a tiny array (no OpenCL or
    CUDA device), or fails it when the run named that library in ``HCS_STEPS_TEST_BACKENDS``.
    """
    from hcs_steps.memory.adapters import adapter_for

    adapter = adapter_for(name)
    if name not in _unusable:
        _unusable[name] = _why_unusable(adapter)
    reason = _unusable[name]
    if reason is not None:
        if name in requested_backends():
            pytest.fail(f"{name} is named in {BACKENDS_ENV} but cannot be used: {reason}")
        pytest.skip(f"{name} cannot be used here: {reason}")
    return adapter


def _why_unusable(adapter) -> str | None:
    import numpy as np

    try:
        adapter.lib()
    except ImportError as exc:
        return f"not installed ({exc})"
    try:
        probe = adapter.from_numpy(np.ones((1, 1, 1), np.float32), adapter.default_device())
        adapter.to_numpy(probe)
    except Exception as exc:  # any failure means the library cannot run tests here
        return f"{type(exc).__name__}: {exc}"
    return None


BACKEND_PARAMS = [
    *HOST_TYPES,
    *(pytest.param(name, marks=pytest.mark.gpu) for name in GPU_ONLY_TYPES),
]


@pytest.fixture(params=BACKEND_PARAMS)
def memory_type(request):
    """Each memory type in turn (cupy only on a CUDA machine), its library imported."""
    from hcs_steps.memory import MemoryType

    require_backend(request.param)
    return MemoryType(request.param)


@pytest.fixture(params=BACKEND_PARAMS)
def target_memory_type(request):
    """A second memory type, so that tests can run over every ordered pair of libraries."""
    from hcs_steps.memory import MemoryType

    require_backend(request.param)
    return MemoryType(request.param)


def pytest_collection_modifyitems(config, items):
    gpu_items = [item for item in items if item.get_closest_marker("gpu")]
    if not gpu_items:
        return
    from hcs_steps.memory.device import cuda_available

    if cuda_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU; none is usable here")
    for item in gpu_items:
        item.add_marker(skip)


@pytest.fixture
def validate_plate():
    """Validate a written plate with yaozarrs, ngff-zarr and ome-zarr's reader."""
    from ngff_validation import check_plate_with_other_tools

    return check_plate_with_other_tools
